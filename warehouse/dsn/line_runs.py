# cython: boundscheck=False, wraparound=False, initializedcheck=False
# (setup.py compiles this module with Cython, its C types declared in line_runs.pxd; without a compiler it
# runs as it is, slower, with the same results: tests/test_dsn_tokens.py compares the two)
"""The tokeniser's loop over the lines of a buffer: which lines the parser need not read.

One pass reads each line's rubric (block code, field number, comma) from its first 15 bytes, a
second decides, with one line of look-ahead, which lines are inert (`tokens.LineSelector` says what
that means). Both are plain loops over the raw bytes, with no Python object per line once compiled.
"""

from __future__ import annotations

_HEAD_BYTES = 15  # `Sxx.Gxx.xx.xxx,`: a rubric code and its comma
_JOINED_BYTES = 34  # the shortest line that holds two: `Sxx.Gxx.xx.xxx,''Sxx.Gxx.xx.xxx,''`
_JOINED = 2  # `quoted` of a line that may be two joined: never left out
_NOT_IN_NORM, _READ, _UNREAD = 0, 1, 2  # what a rubric's line is to the parser
# The same for Python callers (the names above are C constants once compiled).
HEAD_BYTES, NOT_IN_NORM, READ, UNREAD = _HEAD_BYTES, _NOT_IN_NORM, _READ, _UNREAD
_S, _G, _DOT, _COMMA, _QUOTE, _ZERO = 83, 71, 46, 44, 39, 48  # b"S", b"G", b".", b",", b"'", b"0"
_LF, _CR = 10, 13
_HIGH, _LEAD_FIRST, _LEAD_LAST, _CONTINUATION_LAST = 0x80, 0xC2, 0xF4, 0xBF  # bytes of UTF-8 sequences
_C1_LAST = 0x9F  # 0x80 to 0x9F: what cp1252 and latin-1 decode differently
# Eight bytes read as one word: each byte 0x01, each byte 0x80, each byte LF, each byte CR.
_ONES, _HIGHS = 0x0101010101010101, 0x8080808080808080
_LFS, _CRS = _LF * _ONES, _CR * _ONES
# Multiplied by a word holding the single bit 8k (k: a byte's index in the word, little-endian), puts k in the
# top byte; _WORD keeps the product to 64 bits (as the C type does once compiled).
_BYTE_INDEX, _WORD = 0x0001020304050607, 0xFFFFFFFFFFFFFFFF


def mark_inert(data, starts, stops, block_rows, kinds, walked, parent_rows, under, blocks, fields, line_kinds, quoted,
               inert):
    """Set `inert[i]` to 1 for each line i of `data` (bytes from `starts[i]` to `stops[i]`) that the
    parser need not read, 0 for the others.

    `block_rows` maps a rubric's six block digits to a row of `kinds`, which gives what a field
    number of that block is to the parser (NOT_IN_NORM, READ, UNREAD), and of `parent_rows`, which
    gives the row of the block's parent (0: none); `under[a, b]` is 1 when block row a is b or one of
    its ancestors. A block whose row is set in `walked` has the lines that open its repeated instances
    marked too: a rubric of the norm that opens a new instance of that block right after a line of the
    same block; and so are lines of such blocks between two others that the parser places under them
    (a base 78 between the contributions 81 and components 79 of bases; see below). `blocks`, `fields`,
    `line_kinds` and `quoted` are work arrays of one item per line, overwritten: each line's block
    digits and field number (-1 when it is not a well-formed rubric line), its kind, and whether its
    value is quoted (1; _JOINED for a line of a rubric never read that may be two lines joined, which is never left
    out: the parser reads it to tell).
    """
    n = len(starts)
    for i in range(n):
        start = starts[i]
        length = stops[i] - start
        inert[i] = 0
        blocks[i] = -1
        fields[i] = -1
        line_kinds[i] = _NOT_IN_NORM
        quoted[i] = 0
        if length < _HEAD_BYTES:
            continue
        if (data[start] != _S or data[start + 3] != _DOT or data[start + 4] != _G or data[start + 7] != _DOT
                or data[start + 10] != _DOT or data[start + 14] != _COMMA):
            continue
        # The nine digits of `Sxx.Gxx.xx.xxx`, written out: no loop nor test per position once compiled.
        s1, s2, g1, g2 = data[start + 1] - _ZERO, data[start + 2] - _ZERO, data[start + 5] - _ZERO, data[start + 6] - _ZERO
        b1, b2 = data[start + 8] - _ZERO, data[start + 9] - _ZERO
        f1, f2, f3 = data[start + 11] - _ZERO, data[start + 12] - _ZERO, data[start + 13] - _ZERO
        if not (0 <= s1 <= 9 and 0 <= s2 <= 9 and 0 <= g1 <= 9 and 0 <= g2 <= 9 and 0 <= b1 <= 9 and 0 <= b2 <= 9
                and 0 <= f1 <= 9 and 0 <= f2 <= 9 and 0 <= f3 <= 9):
            continue
        block = ((((s1 * 10 + s2) * 10 + g1) * 10 + g2) * 10 + b1) * 10 + b2
        field = (f1 * 10 + f2) * 10 + f3
        blocks[i] = block
        fields[i] = field
        line_kinds[i] = kinds[block_rows[block], field]
        quoted[i] = (length > _HEAD_BYTES + 1 and data[start + _HEAD_BYTES] == _QUOTE
                     and data[start + length - 1] == _QUOTE)
        if quoted[i] and length >= _JOINED_BYTES and line_kinds[i] == _UNREAD:  # only such lines may be left out
            # A quote then `Sxx.Gxx.xx.xxx,'` in the value: perhaps two lines joined (a line break lost), which the
            # parser reads to tell (the second may be a rubric it keeps): never left out (_JOINED).
            for k in range(start + _HEAD_BYTES + 1, start + length - 16):
                if data[k] == _QUOTE and data[k + 1] == _S and data[k + 15] == _COMMA and data[k + 16] == _QUOTE:
                    quoted[i] = _JOINED
                    break
    if n < 3:
        return
    # A line continues the block instance of the line before it: both are well-formed rubrics of the
    # same block, its field number is higher, and it is a rubric of the norm.
    continues_next = False  # whether line i + 1 continues line i
    continues_here = False  # whether line i continues line i - 1
    last_read_field = fields[0]  # field number of the last line before i not inside a run
    for i in range(n - 1):
        j = i + 1
        continues_next = (
            blocks[j] >= 0 and blocks[j] == blocks[i] and fields[j] > fields[i] and line_kinds[j] != _NOT_IN_NORM
        )
        if continues_here and quoted[i] == 1 and line_kinds[i] == _UNREAD:
            if continues_next:
                inert[i] = 1  # inside a run: the next line continues the instance too
            elif blocks[j] >= 0 and (blocks[j] != blocks[i] or fields[j] <= last_read_field):
                # At the end of a run: the next line starts a new instance whether the parser stands
                # at this line or at the last line it read before.
                inert[i] = 1
        elif (i > 0 and blocks[i] >= 0 and blocks[i - 1] == blocks[i] and fields[i] <= fields[i - 1]
              and line_kinds[i] != _NOT_IN_NORM and walked[block_rows[blocks[i]]] and quoted[i] != _JOINED):
            inert[i] = 1  # another instance of a block walked through, opened right after the last one
        if not (continues_here and quoted[i] == 1 and line_kinds[i] == _UNREAD and continues_next):
            last_read_field = fields[i]
        continues_here = continues_next
    # Lines of blocks walked through, read from the last: such a line is left out when the parser places its
    # block under the block of the line before it (the same block, or a child of it or of one of its
    # ancestors; not a root, whose envoi total counts lines), and the next line read under both (and starts
    # a new instance if the line before is of a kept block). With no misplaced block, where the parser
    # stands in the tree depends on the last block placed only, and a line of a block walked through
    # changes nothing else: the next line read is placed where it would have been (under the last block
    # placed before the lines left out, as it is under each of them).
    k = n - 1  # the next line read after line i
    for i in range(n - 2, 0, -1):
        if not inert[i + 1]:
            k = i + 1
        if (inert[i] or blocks[i] < 0 or blocks[i - 1] < 0 or blocks[k] < 0 or line_kinds[i] == _NOT_IN_NORM
                or line_kinds[i - 1] == _NOT_IN_NORM or line_kinds[k] == _NOT_IN_NORM or quoted[i] == _JOINED):
            continue
        row = block_rows[blocks[i]]
        before = block_rows[blocks[i - 1]]
        after = block_rows[blocks[k]]
        if (walked[row] and parent_rows[before] and (walked[before] or after != before)
                and (row == before or under[parent_rows[row], before])
                and (after == row or under[parent_rows[after], row])
                and (after == before or under[parent_rows[after], before])):
            inert[i] = 1


def find_lines(data, words, starts, stops, high):
    """Write where each line of `data` starts and stops (its end excluded: LF, CRLF or CR; the last
    line may have none) into `starts` and `stops`; return the number of lines, or -1 when `data` has
    more lines than the arrays hold.

    `words` is `data` read as little-endian 64-bit words (its first len(data) // 8 times 8 bytes,
    `memoryview(data).cast("Q")` on a little-endian machine; empty: every byte is read one by one).
    Of each word, only the bytes that may be a line end or above 0x7F are read, found by bit operations
    on the whole word: most words of DSN text hold none, the others one or two.

    Write into `high` what the bytes above 0x7F are: how many lines hold one, the index of the first
    (-1: none), 1 when one of them may start a UTF-8 sequence (a lead byte 0xC2 to 0xF4 followed by
    a continuation byte 0x80 to 0xBF) or is one that cp1252 leaves undefined, else 0, and 1 when one
    of them is 0x80 to 0x9F (where cp1252 and latin-1 differ), else 0.
    """
    capacity = len(starts)
    n = 0
    start = 0
    size = len(data)
    n_words = len(words)
    word_index = 0
    tail = n_words << 3  # the next byte after the whole words, read one by one
    flags = 0  # of the word being read: bit 7 of each byte that may be a line end or above 0x7F, not yet read
    base = 0  # where that word starts
    skip_lf = -1  # the LF of a CRLF, not a line end of its own
    high_lines = 0
    first_high = -1
    last_high = -1  # the last line seen holding a byte above 0x7F
    suspect = 0
    c1 = 0
    while True:
        if flags:
            lowest = flags & -flags
            flags ^= lowest
            position = base + ((((lowest >> 7) * _BYTE_INDEX) & _WORD) >> 56)
        elif word_index < n_words:
            word = words[word_index]
            lf = word ^ _LFS
            cr = word ^ _CRS
            # A byte above 0x7F, or a zero byte of `lf` or `cr` (an LF or CR); a byte right after one of
            # those may be marked too (a borrow), and is read for nothing.
            flags = (word | ((lf - _ONES) & ~lf) | ((cr - _ONES) & ~cr)) & _HIGHS
            base = word_index << 3
            word_index += 1
            continue
        elif tail < size:
            position = tail
            tail += 1
        else:
            break
        byte = data[position]
        if byte >= _HIGH:
            if n != last_high:
                high_lines += 1
                last_high = n
                if first_high < 0:
                    first_high = n
            if byte <= _C1_LAST:
                c1 = 1
            if _LEAD_FIRST <= byte <= _LEAD_LAST:
                if position + 1 < size and _HIGH <= data[position + 1] <= _CONTINUATION_LAST:
                    suspect = 1
            elif byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D):  # undefined in cp1252
                suspect = 1
        elif byte in (_LF, _CR) and position != skip_lf:
            if n == capacity:
                return -1
            starts[n] = start
            stops[n] = position
            n += 1
            start = position + 1
            if byte == _CR and position + 1 < size and data[position + 1] == _LF:
                skip_lf = position + 1
                start = position + 2
    if start < size:
        if n == capacity:
            return -1
        starts[n] = start
        stops[n] = size
        n += 1
    high[0] = high_lines
    high[1] = first_high
    high[2] = suspect
    high[3] = c1
    return n


def kept_lines(data, starts, stops, inert, first):
    """(numbers, text): the numbers of the lines of `data` not marked `inert` (the first line numbered
    `first`), and their bytes joined by LF."""
    n = len(starts)
    numbers = []
    size = 0
    for i in range(n):
        if not inert[i]:
            numbers.append(first + i)
            size += stops[i] - starts[i] + 1
    text = bytearray(max(size - 1, 0))
    out = text
    at = -1  # where the LF before the next line goes
    for i in range(n):
        if inert[i]:
            continue
        if at >= 0:
            out[at] = _LF
        at += 1
        for position in range(starts[i], stops[i]):  # (a plain loop once compiled: no slice object per line)
            out[at] = data[position]
            at += 1
    return numbers, text
