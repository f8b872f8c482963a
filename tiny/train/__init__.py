"""On-device training: plan, emission, runs on the board. The package is also callable:
`tiny.train(...)` is tiny.api.train (see tiny/__init__.py)."""
