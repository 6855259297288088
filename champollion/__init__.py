"""Champollion: shared command line, configuration and home directory of the three stages."""

import os

# NumPy asks Linux for transparent huge pages for its large arrays. On the project's machine (a virtual machine whose
# memory the host backs as it is first touched) a huge page faulted in fresh memory costs far more than the small
# pages it replaces: a national month's feature table (1.8 M rows, 72 columns) took 17.6 s to fetch as pandas, 14.2 s
# of it in the kernel, and 10.8 s without them. Set before NumPy is first imported; NUMPY_MADVISE_HUGEPAGE=1 keeps them.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
