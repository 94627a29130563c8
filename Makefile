.PHONY: check demo bench
check:  ## format check, lint, type check, tests (what CI runs)
	bash scripts/test
demo:
	bash scripts/demo
bench:
	bash scripts/bench
