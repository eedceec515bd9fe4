"""provisioner: phone auto-provisioning and config generation.

Data flows one way: store → settings resolution (with provenance) → rendering
→ (in-memory cache → HTTP/TFTP/FTP front ends). See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
