# C types of line_runs.py for Cython (setup.py): the .py stays plain Python.
cimport cython

cdef Py_ssize_t _HEAD_BYTES, _JOINED_BYTES
cdef int _JOINED
cdef unsigned char _NOT_IN_NORM, _READ, _UNREAD
cdef int _S, _G, _DOT, _COMMA, _QUOTE, _ZERO

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t, start=Py_ssize_t, length=Py_ssize_t, block=int, field=int,
               s1=int, s2=int, g1=int, g2=int, b1=int, b2=int, f1=int, f2=int, f3=int, continues_next=bint, continues_here=bint,
               last_read_field=int, k=Py_ssize_t, row=int, before=int, after=int)
cpdef void mark_inert(const unsigned char[:] data, const long long[:] starts, const long long[:] stops,
                      const short[:] block_rows, const unsigned char[:, :] kinds, const unsigned char[:] walked,
                      const short[:] parent_rows, const unsigned char[:, :] under, int[:] blocks, int[:] fields,
                      unsigned char[:] line_kinds, unsigned char[:] quoted, unsigned char[:] inert)

cdef int _LF, _CR
cdef int _HIGH, _LEAD_FIRST, _LEAD_LAST, _CONTINUATION_LAST, _C1_LAST
cdef unsigned long long _ONES, _HIGHS, _LFS, _CRS, _BYTE_INDEX, _WORD

@cython.locals(capacity=Py_ssize_t, n=Py_ssize_t, start=Py_ssize_t, size=Py_ssize_t, n_words=Py_ssize_t,
               word_index=Py_ssize_t, tail=Py_ssize_t, flags=cython.ulonglong, base=Py_ssize_t, skip_lf=Py_ssize_t,
               lowest=cython.ulonglong, position=Py_ssize_t, word=cython.ulonglong, lf=cython.ulonglong,
               cr=cython.ulonglong, byte=int, high_lines=Py_ssize_t, first_high=Py_ssize_t, last_high=Py_ssize_t,
               suspect=int, c1=int)
cpdef Py_ssize_t find_lines(const unsigned char[:] data, const unsigned long long[:] words, long long[:] starts,
                            long long[:] stops, long long[:] high)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, size=Py_ssize_t, at=Py_ssize_t, position=Py_ssize_t, out=cython.uchar[:],
               numbers=list)
cpdef tuple kept_lines(const unsigned char[:] data, const long long[:] starts, const long long[:] stops,
                       const unsigned char[:] inert, Py_ssize_t first)
