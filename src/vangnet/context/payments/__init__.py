"""Payment and session indicators of paid live-streamed abuse (issue 14): rules as data
(`rules`), the columnar `PaymentTable` (`table`), the indicator families (`corridor`,
`patterns`, `family`) and the evaluators registered as ``payments`` and ``sessions``."""
