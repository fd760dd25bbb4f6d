"""nanogate: a hardware-accelerated trading gateway.

The subpackages are the project's top-level folders (see docs/DESIGN.md):
``proto`` contracts, ``hw`` gateware, ``gateway`` host data path, ``sim``
stand-ins, ``gpu`` analytics, ``control`` the control plane.
"""

__version__ = "0.1.0"
