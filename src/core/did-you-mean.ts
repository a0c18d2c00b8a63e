// "did you mean" for a misspelled name (a settings file's key), as commander
// does for flags: the closest known name within a few edits, or nothing.

/** ` Did you mean "base-port"?` for `base-prot`, or '' when no known name is close enough. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const lower = word.toLowerCase();
  // A third of the word's length, at least one edit, at most three: "prot" -> "port", not "env" -> "cwd".
  const limit = Math.min(3, Math.max(1, Math.floor(lower.length / 3)));
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const candidate = name.toLowerCase();
    // A name with a tail added or cut ("frontend" for "front") is close, however long the tail.
    const affixed = Math.min(lower.length, candidate.length) >= 4 && (lower.startsWith(candidate) || candidate.startsWith(lower));
    const distance = affixed ? Math.min(limit, editDistance(lower, candidate)) : editDistance(lower, candidate);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best === undefined ? '' : ` Did you mean "${best.name}"?`;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two neighbours is one edit. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((d[i - 1] as number[])[j]! + 1, (d[i] as number[])[j - 1]! + 1, (d[i - 1] as number[])[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, (d[i - 2] as number[])[j - 2]! + 1);
      (d[i] as number[])[j] = value;
    }
  }
  return (d[rows - 1] as number[])[cols - 1]!;
}
