"""Deploying bitstreams: AWS FPGA images (AFI/AGFI) and PYNQ boards (``nanogate deploy``)."""
