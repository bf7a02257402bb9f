"""sparring.defenses: robust training objectives and the trainer (none registered yet).

Imports no framework: a defense receives its Backend through the model it is given.
"""
