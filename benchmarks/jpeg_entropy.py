"""An instrumented JPEG Huffman decoder in pure Python, for benchmarks/concealed_signals.py.

Baseline sequential and progressive Huffman JPEG (SOF0/1/2), T.81 annex F.2.2 and G.1.2, doing what
libjpeg-turbo's jdhuff.c / jdphuff.c do where the standard leaves a corrupt stream's decoding open
(runs past the band written through jpeg_natural_order's extra entries, a bad code taken as symbol 0
after 17 bits as HUFF_DECODE_FAST does, zeros after the end of the data). It keeps every quantised
coefficient (zigzag order) and counts, per (event, component), what a clean encoder never produces;
benchmarks/concealed_signals.py says what each event means. Slow (about 1 us a symbol): for
experiments only.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

#: NATURAL[k] is the row-major position (8 v + u) of zigzag index k (T.81 figure A.6).
NATURAL = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
    21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60,
    61, 54, 47, 55, 62, 63,
])  # fmt: skip


def ceil(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


class Bits:
    """An MSB-first bit reader over unstuffed bytes; reading past the end gives zeros, as libjpeg does."""

    def __init__(self, data: bytes) -> None:
        self.size = 8 * len(data)
        padded = np.frombuffer(bytes(data) + bytes(8), np.uint8).astype(np.uint32)
        positions = np.arange(self.size + 32)
        index, shift = positions >> 3, positions & 7
        window = (padded[index] << 16 | padded[index + 1] << 8 | padded[index + 2]) >> (8 - shift)
        self.window = (window & 0xFFFF).tolist()  # the 16 bits starting at each bit position
        self.pos = 0
        self.data = data

    def get(self, count: int) -> int:
        if count == 0:
            return 0
        value = self.window[self.pos] >> (16 - count)
        self.pos += count
        return value

    def decode(self, table: list[int]) -> int:
        """The next Huffman symbol; -1 for a code not in the table."""
        entry = table[self.window[self.pos]]
        if entry < 0:
            return -1
        self.pos += entry >> 8
        return entry & 0xFF

    def receive_extend(self, size: int) -> int:
        value = self.get(size)
        return value - (1 << size) + 1 if size and value < 1 << (size - 1) else value


def huffman_table(counts: bytes, symbols: bytes) -> list[int]:
    """A 16-bit lookup table: (code length << 8 | symbol) for every window starting with a code."""
    table = np.full(1 << 16, -1, np.int32)
    code, index = 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            table[code << (16 - length) : (code + 1) << (16 - length)] = length << 8 | symbols[index]
            code, index = code + 1, index + 1
        code <<= 1
    return table.tolist()


def split_scan(data: bytes, start: int) -> tuple[list[bytes], int, list[int]]:
    """The unstuffed restart intervals of the scan at `start`, where the next marker is, and the
    restart marker numbers met."""
    intervals, current, restarts, pos = [], bytearray(), [], start
    while pos < len(data):
        byte = data[pos]
        if byte != 0xFF:
            current.append(byte)
            pos += 1
            continue
        nxt = data[pos + 1] if pos + 1 < len(data) else 0xD9
        if nxt == 0x00:
            current.append(0xFF)
            pos += 2
        elif nxt == 0xFF:
            pos += 1  # fill byte
        elif 0xD0 <= nxt <= 0xD7:
            intervals.append(bytes(current))
            current, pos = bytearray(), pos + 2
            restarts.append(nxt - 0xD0)
        else:
            break
    intervals.append(bytes(current))
    return intervals, pos, restarts


class Decoder:
    """The coefficients of a Huffman-coded JPEG (SOF0/1/2) and the events met decoding them."""

    def __init__(self, data: bytes) -> None:
        self.events: Counter = Counter()
        self.tables: dict[tuple[int, int], list[int]] = {}
        self.quant: dict[int, np.ndarray] = {}
        self.restart_interval = 0
        self.adobe_transform: int | None = None
        self.frame: dict | None = None
        pos = 2
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                pos += 1
                continue
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                pos += 1 if marker == 0xFF else 2
                continue
            if marker == 0xD9:
                break
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            body = data[pos + 4 : pos + 2 + length]
            pos += 2 + length
            if marker in (0xC0, 0xC1, 0xC2):
                self._frame(body, progressive=marker == 0xC2)
            elif 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                raise ValueError(f"unsupported frame SOF{marker - 0xC0}")
            elif marker == 0xC4:
                self._huffman(body)
            elif marker == 0xDB:
                self._quant(body)
            elif marker == 0xEE and body[:5] == b"Adobe" and len(body) > 11:
                self.adobe_transform = body[11]
            elif marker == 0xDD:
                self.restart_interval = int.from_bytes(body[:2], "big")
            elif marker == 0xDA:
                pos = self._scan(data, body, pos)
        if self.frame is None:
            raise ValueError("no frame")

    def _frame(self, body: bytes, progressive: bool) -> None:
        precision, height, width, count = (
            body[0],
            int.from_bytes(body[1:3], "big"),
            int.from_bytes(body[3:5], "big"),
            body[5],
        )
        comps = [
            {"id": body[6 + 3 * i], "h": body[7 + 3 * i] >> 4, "v": body[7 + 3 * i] & 15, "tq": body[8 + 3 * i]}
            for i in range(count)
        ]
        hmax, vmax = max(c["h"] for c in comps), max(c["v"] for c in comps)
        mcux, mcuy = ceil(width, 8 * hmax), ceil(height, 8 * vmax)
        for c in comps:
            c["bw"], c["bh"] = ceil(ceil(width * c["h"], hmax), 8), ceil(ceil(height * c["v"], vmax), 8)
            c["coef"] = np.zeros((mcuy * c["v"], mcux * c["h"], 64), np.int32)  # zigzag order
        self.frame = {
            "precision": precision,
            "height": height,
            "width": width,
            "comps": comps,
            "mcux": mcux,
            "mcuy": mcuy,
            "progressive": progressive,
        }

    def _huffman(self, body: bytes) -> None:
        pos = 0
        while pos < len(body):
            cls, ident, counts = body[pos] >> 4, body[pos] & 15, body[pos + 1 : pos + 17]
            total = sum(counts)
            self.tables[(cls, ident)] = huffman_table(counts, body[pos + 17 : pos + 17 + total])
            pos += 17 + total

    def _quant(self, body: bytes) -> None:
        pos = 0
        while pos < len(body):
            wide, ident = body[pos] >> 4, body[pos] & 15
            size = 128 if wide else 64
            raw = body[pos + 1 : pos + 1 + size]
            self.quant[ident] = np.frombuffer(raw, ">u2" if wide else np.uint8).astype(np.int64)  # zigzag
            pos += 1 + size

    def _scan(self, data: bytes, body: bytes, start: int) -> int:
        count = body[0]
        by_id = {c["id"]: i for i, c in enumerate(self.frame["comps"])}
        members = [(by_id[body[1 + 2 * i]], body[2 + 2 * i] >> 4, body[2 + 2 * i] & 15) for i in range(count)]
        ss, se, ah, al = body[1 + 2 * count], body[2 + 2 * count], body[3 + 2 * count] >> 4, body[3 + 2 * count] & 15
        intervals, end, restarts = split_scan(data, start)
        comps = self.frame["comps"]
        if len(members) == 1:
            c = comps[members[0][0]]
            units = [[(members[0], y, x)] for y in range(c["bh"]) for x in range(c["bw"])]
        else:
            units = [
                [
                    (m, my * comps[m[0]]["v"] + by, mx * comps[m[0]]["h"] + bx)
                    for m in members for by in range(comps[m[0]]["v"]) for bx in range(comps[m[0]]["h"])
                ]
                for my in range(self.frame["mcuy"]) for mx in range(self.frame["mcux"])
            ]  # fmt: skip
        per = self.restart_interval or len(units)
        expected = -(-len(units) // per) - 1
        if len(restarts) != expected or any(r != i % 8 for i, r in enumerate(restarts)):
            self.events["e_restarts", -1] += 1
        progressive = self.frame["progressive"]
        for index in range(0, len(units), per):
            chunk = intervals[index // per] if index // per < len(intervals) else b""
            bits, preds, self.eobrun = Bits(chunk), [0] * len(comps), 0
            for unit in units[index : index + per]:
                for (ci, td, ta), y, x in unit:
                    block = comps[ci]["coef"][y, x]
                    if not progressive:
                        preds[ci] = self._dc_first(bits, td, ci, block, preds[ci], 0)
                        self._ac_first(bits, ta, ci, block, 1, 63, 0)
                    elif ss == 0 and ah == 0:
                        preds[ci] = self._dc_first(bits, td, ci, block, preds[ci], al)
                    elif ss == 0:
                        block[0] |= bits.get(1) << al
                    elif ah == 0:
                        self._ac_first(bits, ta, ci, block, ss, se, al)
                    else:
                        self._ac_refine(bits, ta, ci, block, ss, se, al)
            self._finish(bits, members[0][0] if len(members) == 1 else -1)
        return end

    def _finish(self, bits: Bits, ci: int) -> None:
        if self.eobrun > 0:
            self.events["e_eobrun_past_end", ci] += 1
        if bits.pos > bits.size:
            self.events["overrun", ci] += 1
            return
        partial = -bits.pos % 8
        if partial and bits.get(partial) not in (0, (1 << partial) - 1):  # 1s (libjpeg) or 0s (some cameras)
            self.events["d_padding", ci] += 1
        if bits.size - bits.pos >= 8:
            self.events["d_bytes_left", ci] += 1

    def _symbol(self, bits: Bits, table: list[int], ci: int) -> int:
        symbol = bits.decode(table)
        if symbol < 0:
            self.events["e_bad_code", ci] += 1
            bits.pos += 17  # HUFF_DECODE_FAST: 9 bits dropped, then 1 at a time up to nb = 17; symbol 0
            return 0
        return symbol

    def _dc_first(self, bits: Bits, td: int, ci: int, block: np.ndarray, pred: int, al: int) -> int:
        pred += bits.receive_extend(self._symbol(bits, self.tables[(0, td)], ci))
        block[0] = pred * (1 << al)
        return pred

    def _ac_first(self, bits: Bits, ta: int, ci: int, block: np.ndarray, ss: int, se: int, al: int) -> None:
        if self.eobrun > 0:
            self.eobrun -= 1
            return
        table, k, zrl = self.tables[(1, ta)], ss, False
        while k <= se:
            rs = self._symbol(bits, table, ci)
            run, size = rs >> 4, rs & 15
            if size:
                k += run
                if k > se:
                    self.events["a_past_end", ci] += 1
                block[min(k, 63)] = bits.receive_extend(size) * (1 << al)
                zrl = False
            elif run == 15:
                k += 15
                if k >= se:
                    self.events["a_past_end", ci] += 1  # a ZRL with nothing that can follow it
                zrl = True
            else:
                if zrl:
                    self.events["e_zrl_eob", ci] += 1
                if self.frame["progressive"]:
                    self.eobrun = (1 << run) + bits.get(run) - 1
                break
            k += 1

    def _ac_refine(self, bits: Bits, ta: int, ci: int, block: np.ndarray, ss: int, se: int, al: int) -> None:
        """G.1.2.3 as libjpeg-turbo's decode_mcu_AC_refine does it."""
        p1, m1, k = 1 << al, -1 << al, ss
        table, zrl = self.tables[(1, ta)], False
        if self.eobrun == 0:
            while k <= se:
                rs = self._symbol(bits, table, ci)
                run, size = rs >> 4, rs & 15
                value = 0
                if size:
                    if size != 1:
                        self.events["refine_size", ci] += 1
                    value = p1 if bits.get(1) else m1
                    zrl = False
                elif run != 15:
                    if zrl:
                        self.events["e_zrl_eob", ci] += 1
                    self.eobrun = (1 << run) + bits.get(run)
                    break
                else:
                    zrl = True
                while k <= se:
                    coef = int(block[k])
                    if coef != 0:
                        if bits.get(1) and coef & p1 == 0:
                            block[k] = coef + (p1 if coef >= 0 else m1)
                    else:
                        run -= 1
                        if run < 0:
                            break
                    k += 1
                if value:
                    if k > se:
                        self.events["a_past_end", ci] += 1
                    block[min(k, 63)] = value
                elif k > se and zrl:
                    self.events["a_past_end", ci] += 1
                k += 1
        if self.eobrun > 0:
            while k <= se:
                coef = int(block[k])
                if coef != 0 and bits.get(1) and coef & p1 == 0:
                    block[k] = coef + (p1 if coef >= 0 else m1)
                k += 1
            self.eobrun -= 1
