# Benchmarks: programs that report ratios against a baseline measured in the
# same run (never assertions).  See tests/bench/README.md.
.PHONY: bench
bench: all
	tests/bench/run-bench $(LGKVM) $(BUILD)/guests
