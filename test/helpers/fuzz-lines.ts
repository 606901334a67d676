import fc from 'fast-check';

/** A real line with a few characters replaced, inserted or removed: the inputs a parser is most likely to meet. */
export function mutatedLine(realLines: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom(...realLines),
      fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.string({ maxLength: 4 })), { maxLength: 4 }),
    )
    .map(([line, edits]) => {
      let s = line;
      for (const [at, del, ins] of edits) {
        const i = at % (s.length + 1);
        s = s.slice(0, i) + ins + s.slice(i + del);
      }
      return s;
    });
}
