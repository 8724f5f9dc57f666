package rules

import "hash/maphash"

// keyTable interns the keys of an Index as numbers (key ids). The values
// live one after the other in a byte arena and the hash table holds ids,
// so that nothing in it is a pointer: a map[Key] would hold a string
// header in every slot for the GC to scan, at every cycle, for every key
// of a million rules.
//
// A key is released when its last posting goes; its id is reused and its
// bytes are reclaimed once the released bytes are half the arena.
type keyTable struct {
	// seeds hash each kind of key apart, so equal values of two kinds
	// fall in different places.
	seeds [KeyFlatpak + 1]maphash.Seed
	bytes []byte
	recs  []keyRec
	// table is open addressing with linear probing: the key's hash in the
	// high half, key id + 1 in the low half, 0 when empty. Its length is a
	// power of two, at most 3/4 full. With the hash beside the id a probe
	// reads a key's record only when the hashes agree: most keys of a
	// message are in no rule, and each record read is a cache miss in a
	// large index.
	table []uint64
	free  []uint32
	live  int
	dead  int // bytes of released keys in bytes
}

type keyRec struct {
	off, n uint32
	hash   uint32
	// head is the key's first posting (Index.post), or none.
	head uint32
	kind KeyKind
	gone bool // released, its id free
}

func newKeyTable() keyTable {
	var t keyTable
	for i := range t.seeds {
		t.seeds[i] = maphash.MakeSeed()
	}
	return t
}

func (t *keyTable) hash(k Key) uint32 {
	if int(k.Kind) >= len(t.seeds) {
		return uint32(maphash.String(t.seeds[0], k.Value))
	}
	return uint32(maphash.String(t.seeds[k.Kind], k.Value))
}

func (t *keyTable) value(r *keyRec) []byte { return t.bytes[r.off : r.off+r.n] }

// key returns key id as a Key (its value a new string).
func (t *keyTable) key(id uint32) Key {
	r := &t.recs[id]
	return Key{Kind: r.kind, Value: string(t.value(r))}
}

// find returns the id of k, and false when k is not in the table.
func (t *keyTable) find(k Key) (uint32, bool) {
	if t.live == 0 {
		return 0, false
	}
	_, id, ok := t.lookup(k, t.hash(k))
	return id, ok
}

// lookup returns k's place in the table and its id when ok, else the
// empty place where k would go.
func (t *keyTable) lookup(k Key, h uint32) (i int, id uint32, ok bool) {
	mask := len(t.table) - 1
	for i = int(h) & mask; ; i = (i + 1) & mask {
		e := t.table[i]
		if e == 0 {
			return i, 0, false
		}
		if uint32(e>>32) != h {
			continue
		}
		id := uint32(e) - 1
		if r := &t.recs[id]; r.kind == k.Kind && string(t.value(r)) == k.Value {
			return i, id, true
		}
	}
}

// intern returns the id of k, adding k (without postings) if needed.
func (t *keyTable) intern(k Key) uint32 {
	h := t.hash(k)
	if len(t.table) > 0 {
		if _, id, ok := t.lookup(k, h); ok {
			return id
		}
	}
	if 4*(t.live+1) > 3*len(t.table) {
		t.grow()
	}
	i, _, _ := t.lookup(k, h)
	r := keyRec{off: uint32(len(t.bytes)), n: uint32(len(k.Value)), hash: h, head: none, kind: k.Kind}
	t.bytes = append(t.bytes, k.Value...)
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.recs[id] = r
	} else {
		id = uint32(len(t.recs))
		t.recs = append(t.recs, r)
	}
	t.table[i] = entry(h, id)
	t.live++
	return id
}

func (t *keyTable) grow() {
	n := max(2*len(t.table), 64)
	t.table = make([]uint64, n)
	mask := n - 1
	for id := range t.recs {
		r := &t.recs[id]
		if r.gone {
			continue
		}
		i := int(r.hash) & mask
		for t.table[i] != 0 {
			i = (i + 1) & mask
		}
		t.table[i] = entry(r.hash, uint32(id))
	}
}

// entry is key id's slot in the table.
func entry(h, id uint32) uint64 { return uint64(h)<<32 | uint64(id+1) }

// release drops key id, which has no postings left.
func (t *keyTable) release(id uint32) {
	r := t.recs[id]
	mask := len(t.table) - 1
	i := int(r.hash) & mask
	for uint32(t.table[i]) != id+1 {
		i = (i + 1) & mask
	}
	// Backward shift: move up every entry after i whose home is not
	// between i and it, so that no probe stops early at the hole.
	for j := i; ; {
		t.table[i] = 0
		for {
			j = (j + 1) & mask
			e := t.table[j]
			if e == 0 {
				t.afterRelease(id, r.n)
				return
			}
			home := int(e>>32) & mask
			if (i <= j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
				t.table[i] = e
				i = j
				break
			}
		}
	}
}

func (t *keyTable) afterRelease(id, n uint32) {
	t.recs[id] = keyRec{head: none, gone: true}
	t.free = append(t.free, id)
	t.live--
	t.dead += int(n)
	if t.dead > 4096 && 2*t.dead > len(t.bytes) {
		t.compactBytes()
	}
}

// compactBytes rewrites the arena without the released keys' bytes.
func (t *keyTable) compactBytes() {
	out := make([]byte, 0, len(t.bytes)-t.dead)
	for id := range t.recs {
		r := &t.recs[id]
		if r.gone {
			continue
		}
		off := uint32(len(out))
		out = append(out, t.value(r)...)
		r.off = off
	}
	t.bytes, t.dead = out, 0
}

// compact gives back spare capacity (after a bulk load).
func (t *keyTable) compact() {
	t.compactBytes()
	t.recs = append([]keyRec(nil), t.recs...)
}
