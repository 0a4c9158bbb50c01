// A binary min-heap of "claimable from" times, with lazy invalidation through a version number.

export interface DueNode<T> {
  /** Claimable from this time (the retry time, or the end of a lease). */
  at: number;
  /** Tie-breakers: older messages first. */
  receivedAt: number;
  seq: number;
  item: T;
  /** The item's version when pushed; a node whose item moved on is stale and skipped. */
  version: number;
}

export class DueHeap<T> {
  private nodes: DueNode<T>[] = [];

  get size(): number {
    return this.nodes.length;
  }

  push(node: DueNode<T>): void {
    const nodes = this.nodes;
    nodes.push(node);
    let i = nodes.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(nodes[i]!, nodes[parent]!)) break;
      [nodes[i], nodes[parent]] = [nodes[parent]!, nodes[i]!];
      i = parent;
    }
  }

  peek(): DueNode<T> | undefined {
    return this.nodes[0];
  }

  pop(): DueNode<T> | undefined {
    const nodes = this.nodes;
    const top = nodes[0];
    const last = nodes.pop();
    if (top === undefined || last === undefined || nodes.length === 0) return top;
    nodes[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < nodes.length && before(nodes[left]!, nodes[least]!)) least = left;
      if (right < nodes.length && before(nodes[right]!, nodes[least]!)) least = right;
      if (least === i) break;
      [nodes[i], nodes[least]] = [nodes[least]!, nodes[i]!];
      i = least;
    }
    return top;
  }

  /** Rebuilds from the nodes that are still current (drops the stale ones). */
  rebuild(current: Iterable<DueNode<T>>): void {
    this.nodes = [];
    for (const node of current) this.push(node);
  }
}

function before<T>(a: DueNode<T>, b: DueNode<T>): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.receivedAt !== b.receivedAt) return a.receivedAt < b.receivedAt;
  return a.seq < b.seq;
}
