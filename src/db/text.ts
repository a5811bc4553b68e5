/**
 * Text that PostgreSQL can store in a `text` or `jsonb` column, from text nobody vouches for (what a
 * webhook receiver answered, an error message quoting it): PostgreSQL refuses the NUL character, and
 * an unpaired UTF-16 surrogate has no UTF-8 form. Each becomes U+FFFD, the replacement character, as
 * invalid UTF-8 already does when bytes are decoded (`Buffer#toString('utf8')`).
 */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\uFFFD');
}

/** Bytes as storable text: invalid UTF-8 and NUL become U+FFFD. */
export function storableTextOf(bytes: Buffer): string {
  return storableText(bytes.toString('utf8'));
}
