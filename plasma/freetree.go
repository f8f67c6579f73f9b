package plasma

// freeTree is a treap of free ranges ordered by (size, offset), so that the
// best fit for a request is the first node not smaller than it. Nodes live
// in a slice and point at each other by index, which keeps the tree out of
// the garbage collector's way and allocation-free once warm.
type freeTree struct {
	nodes []treeNode
	root  int32
	spare int32 // head of the list of unused nodes, linked through left
	count int
	seed  uint64
}

type treeNode struct {
	size, off   uint64
	prio        uint64
	left, right int32
}

const nilNode = -1

func (t *freeTree) init() {
	if t.nodes == nil {
		t.root, t.spare, t.seed = nilNode, nilNode, 0x9e3779b97f4a7c15
	}
}

func less(s1, o1, s2, o2 uint64) bool { return s1 < s2 || (s1 == s2 && o1 < o2) }

func (t *freeTree) newNode(size, off uint64) int32 {
	// xorshift64: priorities need only be distinct and well spread.
	t.seed ^= t.seed << 13
	t.seed ^= t.seed >> 7
	t.seed ^= t.seed << 17
	n := treeNode{size: size, off: off, prio: t.seed, left: nilNode, right: nilNode}
	if i := t.spare; i != nilNode {
		t.spare = t.nodes[i].left
		t.nodes[i] = n
		return i
	}
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1)
}

// split divides the subtree at i into the keys below (size, off) and the
// rest.
func (t *freeTree) split(i int32, size, off uint64) (int32, int32) {
	if i == nilNode {
		return nilNode, nilNode
	}
	n := &t.nodes[i]
	if less(n.size, n.off, size, off) {
		l, r := t.split(n.right, size, off)
		t.nodes[i].right = l
		return i, r
	}
	l, r := t.split(n.left, size, off)
	t.nodes[i].left = r
	return l, i
}

// merge joins two subtrees whose keys are all ordered l < r.
func (t *freeTree) merge(l, r int32) int32 {
	if l == nilNode {
		return r
	}
	if r == nilNode {
		return l
	}
	if t.nodes[l].prio > t.nodes[r].prio {
		t.nodes[l].right = t.merge(t.nodes[l].right, r)
		return l
	}
	t.nodes[r].left = t.merge(l, t.nodes[r].left)
	return r
}

func (t *freeTree) insert(size, off uint64) {
	t.init()
	t.root = t.insertAt(t.root, t.newNode(size, off))
	t.count++
}

func (t *freeTree) insertAt(i, n int32) int32 {
	if i == nilNode {
		return n
	}
	if t.nodes[n].prio > t.nodes[i].prio {
		l, r := t.split(i, t.nodes[n].size, t.nodes[n].off)
		t.nodes[n].left, t.nodes[n].right = l, r
		return n
	}
	if less(t.nodes[n].size, t.nodes[n].off, t.nodes[i].size, t.nodes[i].off) {
		t.nodes[i].left = t.insertAt(t.nodes[i].left, n)
	} else {
		t.nodes[i].right = t.insertAt(t.nodes[i].right, n)
	}
	return i
}

func (t *freeTree) remove(size, off uint64) {
	t.root = t.removeAt(t.root, size, off)
}

func (t *freeTree) removeAt(i int32, size, off uint64) int32 {
	if i == nilNode {
		return nilNode
	}
	n := &t.nodes[i]
	switch {
	case n.size == size && n.off == off:
		rest := t.merge(n.left, n.right)
		n.left = t.spare
		t.spare = i
		t.count--
		return rest
	case less(size, off, n.size, n.off):
		n.left = t.removeAt(n.left, size, off)
	default:
		n.right = t.removeAt(n.right, size, off)
	}
	return i
}

// ceiling returns the smallest range of at least size bytes.
func (t *freeTree) ceiling(size uint64) (uint64, uint64, bool) {
	t.init()
	best := int32(nilNode)
	for i := t.root; i != nilNode; {
		n := &t.nodes[i]
		if n.size >= size {
			best, i = i, n.left
		} else {
			i = n.right
		}
	}
	if best == nilNode {
		return 0, 0, false
	}
	return t.nodes[best].size, t.nodes[best].off, true
}

// max returns the size of the largest range.
func (t *freeTree) max() (uint64, bool) {
	t.init()
	i := t.root
	if i == nilNode {
		return 0, false
	}
	for t.nodes[i].right != nilNode {
		i = t.nodes[i].right
	}
	return t.nodes[i].size, true
}

func (t *freeTree) has(size, off uint64) bool {
	t.init()
	for i := t.root; i != nilNode; {
		n := &t.nodes[i]
		if n.size == size && n.off == off {
			return true
		}
		if less(size, off, n.size, n.off) {
			i = n.left
		} else {
			i = n.right
		}
	}
	return false
}

func (t *freeTree) len() int { return t.count }
