"""Pre-trade risk on the host side: the limits file, the orders CSV, ``nanogate risk``."""
