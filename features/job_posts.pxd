# C types of job_posts.py for Cython (setup.py): the .py stays plain Python.
cimport cython


cdef class JobLevel:
    cdef public long long _memory_days
    cdef public object _steps
    cdef public long long _dropped
    cdef public object _peaks
    cdef public list _leaving

    cpdef hold(self, long long first_day, double vacant_from)

    cpdef long long held(self, long long day)

    cpdef long long posts(self, long long day)

    @cython.locals(number=cython.longlong)
    cpdef _step(self, long long day, long long held)

    @cython.locals(left=cython.longlong)
    cpdef _leave_until(self, long long day)


@cython.locals(taken=set, held=tuple, vacancy=tuple, number=cython.longlong)
cpdef long long _new_post(list running, list vacant)


@cython.locals(rows=list, starts=list, ends=list, vacant_from=list, unknown=list, durations=list, motifs=list,
               declared=list, departure=list, hire=list, idccs=list, ids=list, sirets=list, bounds=list,
               first=Py_ssize_t, after=Py_ssize_t, row=Py_ssize_t, holder=Py_ssize_t, own_calendar=bint,
               running=list, vacant=list, level=JobLevel, start=cython.longlong, post_no=cython.longlong,
               calendar_days=bint, best=tuple, vacancy=tuple, latest=tuple, best_status=cython.longlong,
               best_short=cython.longlong, best_left=cython.longlong, left=cython.longlong, gap=cython.longlong,
               duration=cython.double, held=cython.longlong, exempt=bint, need=cython.longlong,
               short=cython.longlong, status=cython.longlong, free=cython.longlong, week=tuple)
cpdef carence_successions(contracts, dict weekmasks, long long post_memory_days)


@cython.locals(alive=list, left=list, by_departure=list, gone=set)
cpdef list _posts_left(list vacant, long long start, long long spare, list vacant_from, list departure,
                       long long memory_days)


cpdef long long _opening_days(tuple week, long long begin, long long end)


@cython.locals(contract=Py_ssize_t, day=Py_ssize_t, running=cython.longlong)
cpdef void _count_running(const long long[:] starts, const long long[:] ends, long long[:] level)


@cython.locals(base=cython.longlong, held=cython.longlong, highest=cython.longlong, day=Py_ssize_t,
               k=cython.longlong, days=cython.longlong)
cpdef tuple base_load(const long long[:] level, long long gap_days, double year_round_share)


@cython.locals(days=cython.longlong, last=Py_ssize_t, day=Py_ssize_t)
cpdef long long _held_days(const long long[:] level, long long k, long long gap_days)


@cython.locals(members=list, start_of=dict, end_of=dict, claim=dict, by_start=dict, changes=set, visited=list,
               running=set, holders=set, reserved=set, days=dict, day=cython.longlong, following=cython.longlong,
               free=cython.longlong, later=cython.longlong, coming=list, candidates=list)
cpdef dict base_holders(rows, starts, ends, ids, long long base, long long gap_days, long long width)
