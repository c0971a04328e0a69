"""A lazy filesystem, as Jepsen's LazyFS: writes stay in memory until fsynced, so a
simulated power cut (``LazyMount.drop_unsynced``) loses exactly what a real one could.

Data written to a file is durable once that file is fsynced (or fdatasynced); a create,
rename, link, unlink, mkdir or rmdir once its directory is fsynced. FUSE in user space
(``mfusepy``); ``fuse_unavailable()`` says why it cannot run here.
"""

from chaos.lazyfs._fuse import fuse_unavailable
from chaos.lazyfs._mount import LazyFsError, LazyMount

__all__ = ["LazyFsError", "LazyMount", "fuse_unavailable"]
