# C types of replacements.py for Cython (setup.py): the .py stays plain Python.
cimport cython


@cython.locals(rows=list, job=tuple, away=list, arrived=Py_ssize_t, candidates=list, held=list, taken=dict,
               start=cython.longlong, until=cython.longlong, index=Py_ssize_t, free=list, chosen=Py_ssize_t,
               closest=tuple, key=tuple)
cpdef covered_replacements(replacements, absences, long long margin_days)


@cython.locals(jobs=set, by_job=dict, away=list, first=cython.longlong, last=cython.double)
cpdef dict _absences_by_job(absences, replacements)
