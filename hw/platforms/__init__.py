"""Platform tops and builds: AWS F2 / F1 custom logic, Kria KV260 / KR260 PYNQ overlays."""
