"""The policy language: YAML schema, expression compiler, rule state machines, effect merge.

This package knows nothing of exchanges or of the runtime. It is given feature
values and a time, and returns merged effects and a decision trace.
"""
