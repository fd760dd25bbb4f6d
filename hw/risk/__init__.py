"""The pre-trade risk pipeline (SEC Rule 15c3-5 checks) in Amaranth: docs/hw-risk.md."""
