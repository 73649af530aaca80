# cython: language_level=3
"""The event ids a site remembers, packed: the compiled twin of ``core/_ids_py.py``.

A site remembers every event id of its de-duplication window (30 days: millions of
ids).  As Python objects an id cost ~118 bytes (a str of its own, a dict entry, a list
slot).  Here an entry is the id's UTF-8 bytes in a buffer of its hour, with 8 bytes of
offset and expiry beside them, and the id is an 8-byte slot of an open-addressing table:
a tag of its hash, which buffer and which entry (the table's place gives the rest of the
hash; the bytes are compared on a matching tag, so the table is exact).  Semantics are
the twin's, entry for entry: ``tests/unit/test_id_table.py`` runs both side by side.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)

__all__ = ["CYTHON_MODULE", "IdTable"]

CYTHON_MODULE = True

# A slot: tag (24 bits, never 0) | bucket (20 bits) | entry (20 bits).  0 is empty, 1 deleted.
cdef enum:
    POS_BITS = 20
    BUCKET_BITS = 20
    TAG_SHIFT = 40
cdef uint64_t _EMPTY = 0
cdef uint64_t _DELETED = 1
cdef uint32_t _BUCKET_ENTRIES = 1 << POS_BITS   # a full bucket: the hour goes on in another one
cdef Py_ssize_t _MAX_BUCKETS = 1 << BUCKET_BITS
cdef double _MAX_LOAD = 0.7


cdef struct Bucket:
    long long hour
    char* data          # the entries' UTF-8 bytes, one after the other
    Py_ssize_t nbytes, capbytes
    uint32_t* ends      # where entry k ends in data (it starts where k - 1 ends)
    uint32_t* micros    # entry k's expiry, microseconds into the hour
    uint32_t n, cap


cdef inline uint64_t _hash(const char* data, Py_ssize_t size) noexcept nogil:
    """FNV-1a over the bytes, then murmur3's finaliser, so low bits (the place) and high (the tag) both mix."""
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t k
    for k in range(size):
        h = (h ^ <unsigned char>data[k]) * 1099511628211ULL
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 33
    return h


cdef inline uint64_t _tag(uint64_t h) noexcept nogil:
    cdef uint64_t tag = h >> TAG_SHIFT
    return tag if tag else 1


cdef inline uint64_t _slot(uint64_t h, Py_ssize_t bucket, uint32_t pos) noexcept nogil:
    return (_tag(h) << TAG_SHIFT) | (<uint64_t>bucket << POS_BITS) | pos


cdef inline Py_ssize_t _bucket_of(uint64_t slot) noexcept nogil:
    return <Py_ssize_t>((slot >> POS_BITS) & ((1 << BUCKET_BITS) - 1))


cdef inline uint32_t _pos_of(uint64_t slot) noexcept nogil:
    return <uint32_t>(slot & ((1 << POS_BITS) - 1))


cdef class IdTable:
    """Event id -> the hour of its latest entry and that entry's microseconds; entries kept per hour."""

    cdef uint64_t* slots
    cdef Py_ssize_t cap, used, deleted     # used: live slots; deleted: tombstones
    cdef Bucket* buckets
    cdef Py_ssize_t nbuckets, capbuckets
    cdef list free_buckets
    cdef dict by_hour                      # hour -> its buckets' indexes (the last one is appended to)
    cdef bytes spare                       # an id with lone surrogates, encoded for the call in hand

    def __cinit__(self):
        self.cap = 64
        self.slots = <uint64_t*>PyMem_Malloc(self.cap * sizeof(uint64_t))
        if self.slots == NULL:
            raise MemoryError()
        memset(self.slots, 0, self.cap * sizeof(uint64_t))
        self.free_buckets = []
        self.by_hour = {}

    def __dealloc__(self):
        cdef Py_ssize_t b
        if self.buckets != NULL:
            for b in range(self.nbuckets):
                _free_bucket(&self.buckets[b])
            PyMem_Free(self.buckets)
        PyMem_Free(self.slots)

    def __len__(self):
        return self.used

    def __contains__(self, event_id):
        return isinstance(event_id, str) and self._find(event_id) >= 0

    def __iter__(self):
        """The ids remembered, in no particular order."""
        cdef Py_ssize_t i
        cdef list out = []
        for i in range(self.cap):
            if self.slots[i] > _DELETED:
                out.append(self._text(_bucket_of(self.slots[i]), _pos_of(self.slots[i])))
        return iter(out)

    def __reduce__(self):
        """Copied and pickled as its ids' latest entries (the entries they left behind are not kept)."""
        cdef Py_ssize_t i
        cdef list entries = []
        for i in range(self.cap):
            if self.slots[i] > _DELETED:
                b, pos = _bucket_of(self.slots[i]), _pos_of(self.slots[i])
                entries.append((self._text(b, pos), self.buckets[b].hour, self.buckets[b].micros[pos]))
        return _rebuild, (entries,)

    def __sizeof__(self):
        cdef Py_ssize_t b, size = sizeof(IdTable) + self.cap * sizeof(uint64_t) + self.capbuckets * sizeof(Bucket)
        for b in range(self.nbuckets):
            size += self.buckets[b].capbytes + self.buckets[b].cap * 2 * sizeof(uint32_t)
        return size

    def hour_of(self, str event_id):
        """The hour of the id's latest entry, or None when it is not remembered."""
        cdef Py_ssize_t i = self._find(event_id)
        return None if i < 0 else self.buckets[_bucket_of(self.slots[i])].hour

    def micros_of(self, str event_id):
        """Microseconds into its hour at which the id's latest entry expires (KeyError if not remembered)."""
        cdef Py_ssize_t i = self._find(event_id)
        if i < 0:
            raise KeyError(event_id)
        return self.buckets[_bucket_of(self.slots[i])].micros[_pos_of(self.slots[i])]

    def add(self, str event_id, long long hour, unsigned int micros):
        """A new entry of the id in ``hour``: it becomes the id's latest (an earlier one stays, unreferenced)."""
        cdef Py_ssize_t size
        cdef const char* data = self._utf8(event_id, &size)
        cdef uint64_t h = _hash(data, size)
        cdef Py_ssize_t b = self._bucket_for(hour)
        cdef uint32_t pos = _append(&self.buckets[b], data, size, micros)
        cdef Py_ssize_t i = self._find_hashed(data, size, h)
        if i >= 0:
            self.slots[i] = _slot(h, b, pos)
            return
        if (self.used + self.deleted + 1) > self.cap * _MAX_LOAD:
            self._resize()
        i = <Py_ssize_t>(h & <uint64_t>(self.cap - 1))
        while self.slots[i] > _DELETED:
            i = (i + 1) & (self.cap - 1)
        if self.slots[i] == _DELETED:
            self.deleted -= 1
        self.slots[i] = _slot(h, b, pos)
        self.used += 1

    def pop(self, str event_id):
        """Forget the id now; the hour of its latest entry, or None when it was not remembered."""
        cdef Py_ssize_t i = self._find(event_id)
        if i < 0:
            return None
        hour = self.buckets[_bucket_of(self.slots[i])].hour
        self._delete(i)
        return hour

    def drop_hour(self, long long hour):
        """Forget every id whose latest entry is in ``hour``, and the hour's entries."""
        cdef list found = self.by_hour.pop(hour, None)
        if found is None:
            return
        cdef Py_ssize_t b, i
        cdef Bucket* bucket
        cdef uint32_t pos, start
        cdef uint64_t h, slot
        for b in found:
            bucket = &self.buckets[b]
            start = 0
            for pos in range(bucket.n):
                h = _hash(bucket.data + start, bucket.ends[pos] - start)
                start = bucket.ends[pos]
                slot = _slot(h, b, pos)
                i = <Py_ssize_t>(h & <uint64_t>(self.cap - 1))
                while self.slots[i] != _EMPTY:
                    if self.slots[i] == slot:
                        self._delete(i)
                        break
                    i = (i + 1) & (self.cap - 1)
            _free_bucket(bucket)
            self.free_buckets.append(b)
        if self.deleted > self.cap // 4:   # clear the tombstones (and shrink after a wave of expiries)
            self._resize()

    # --- inside ---------------------------------------------------------------------------

    cdef Py_ssize_t _find(self, str event_id) except -2:
        cdef Py_ssize_t size
        cdef const char* data = self._utf8(event_id, &size)
        return self._find_hashed(data, size, _hash(data, size))

    cdef const char* _utf8(self, str text, Py_ssize_t* size) except NULL:
        """The id's UTF-8 bytes (the str's own cache); lone surrogates pass through, so any str is an id."""
        try:
            return PyUnicode_AsUTF8AndSize(text, size)
        except UnicodeEncodeError:
            self.spare = text.encode("utf-8", "surrogatepass")
            size[0] = len(self.spare)
            return self.spare

    cdef Py_ssize_t _find_hashed(self, const char* data, Py_ssize_t size, uint64_t h) noexcept:
        cdef Py_ssize_t i = <Py_ssize_t>(h & <uint64_t>(self.cap - 1))
        cdef uint64_t tag = _tag(h), slot
        cdef Bucket* bucket
        cdef uint32_t pos, start
        while True:
            slot = self.slots[i]
            if slot == _EMPTY:
                return -1
            if slot >> TAG_SHIFT == tag:
                bucket = &self.buckets[_bucket_of(slot)]
                pos = _pos_of(slot)
                start = bucket.ends[pos - 1] if pos else 0
                if bucket.ends[pos] - start == size and memcmp(bucket.data + start, data, size) == 0:
                    return i
            i = (i + 1) & (self.cap - 1)

    cdef void _delete(self, Py_ssize_t i) noexcept:
        self.slots[i] = _DELETED
        self.used -= 1
        self.deleted += 1

    cdef object _text(self, Py_ssize_t b, uint32_t pos):
        cdef Bucket* bucket = &self.buckets[b]
        cdef uint32_t start = bucket.ends[pos - 1] if pos else 0
        return PyUnicode_DecodeUTF8(bucket.data + start, bucket.ends[pos] - start, "surrogatepass")

    cdef uint64_t _hash_of(self, uint64_t slot) noexcept:
        cdef Bucket* bucket = &self.buckets[_bucket_of(slot)]
        cdef uint32_t pos = _pos_of(slot)
        cdef uint32_t start = bucket.ends[pos - 1] if pos else 0
        return _hash(bucket.data + start, bucket.ends[pos] - start)

    cdef int _resize(self) except -1:
        """Re-insert the live slots into a table at most half full, without the tombstones."""
        cdef Py_ssize_t cap = 64, i, j
        while cap * 0.5 < self.used + 1:
            cap *= 2
        cdef uint64_t* old = self.slots
        cdef Py_ssize_t old_cap = self.cap
        cdef uint64_t* slots = <uint64_t*>PyMem_Malloc(cap * sizeof(uint64_t))
        if slots == NULL:
            raise MemoryError()
        memset(slots, 0, cap * sizeof(uint64_t))
        for i in range(old_cap):
            if old[i] > _DELETED:
                j = <Py_ssize_t>(self._hash_of(old[i]) & <uint64_t>(cap - 1))
                while slots[j] != _EMPTY:
                    j = (j + 1) & (cap - 1)
                slots[j] = old[i]
        self.slots = slots
        self.cap = cap
        self.deleted = 0
        PyMem_Free(old)
        return 0

    cdef Py_ssize_t _bucket_for(self, long long hour) except -1:
        """The bucket an entry of ``hour`` goes to: the hour's last, or a new one when that is full."""
        cdef list found = self.by_hour.get(hour)
        cdef Py_ssize_t b
        if found is not None:
            b = found[len(found) - 1]
            if self.buckets[b].n < _BUCKET_ENTRIES:
                return b
        b = self._new_bucket(hour)
        if found is None:
            self.by_hour[hour] = [b]
        else:
            found.append(b)
        return b

    cdef Py_ssize_t _new_bucket(self, long long hour) except -1:
        cdef Py_ssize_t b
        cdef Bucket* grown
        if self.free_buckets:
            b = self.free_buckets.pop()
        else:
            if self.nbuckets == _MAX_BUCKETS:
                raise MemoryError(f"more than {_MAX_BUCKETS} hours of event ids held at once")
            if self.nbuckets == self.capbuckets:
                self.capbuckets = max(16, self.capbuckets * 2)
                grown = <Bucket*>PyMem_Realloc(self.buckets, self.capbuckets * sizeof(Bucket))
                if grown == NULL:
                    raise MemoryError()
                self.buckets = grown
            b = self.nbuckets
            self.nbuckets += 1
        memset(&self.buckets[b], 0, sizeof(Bucket))
        self.buckets[b].hour = hour
        return b


def _rebuild(list entries):
    table = IdTable()
    for event_id, hour, micros in entries:
        table.add(event_id, hour, micros)
    return table


cdef uint32_t _append(Bucket* bucket, const char* data, Py_ssize_t size, uint32_t micros) except? 0xffffffff:
    """Append an entry to the hour's bucket; its position."""
    cdef Py_ssize_t capbytes
    cdef uint32_t cap
    if bucket.nbytes + size > 0xffffffff:
        raise MemoryError("an hour's event ids beyond 4 GiB")
    if bucket.nbytes + size > bucket.capbytes:   # a quarter more: little spare room, and no trimming
        capbytes = max(256, bucket.capbytes + bucket.capbytes // 4, bucket.nbytes + size)
        _grow(<void**>&bucket.data, capbytes)
        bucket.capbytes = capbytes
    if bucket.n == bucket.cap:
        cap = max(16, bucket.cap + bucket.cap // 4)
        _grow(<void**>&bucket.ends, cap * sizeof(uint32_t))
        _grow(<void**>&bucket.micros, cap * sizeof(uint32_t))
        bucket.cap = cap
    memcpy(bucket.data + bucket.nbytes, data, size)
    bucket.nbytes += size
    bucket.ends[bucket.n] = <uint32_t>bucket.nbytes
    bucket.micros[bucket.n] = micros
    bucket.n += 1
    return bucket.n - 1


cdef int _grow(void** block, Py_ssize_t size) except -1:
    cdef void* grown = PyMem_Realloc(block[0], size)
    if grown == NULL:
        raise MemoryError()
    block[0] = grown
    return 0


cdef void _free_bucket(Bucket* bucket) noexcept:
    PyMem_Free(bucket.data)
    PyMem_Free(bucket.ends)
    PyMem_Free(bucket.micros)
    memset(bucket, 0, sizeof(Bucket))
