/** Escapes LIKE/ILIKE wildcards (and the escape character) so a filter matches them literally. */
export const escapeLike = (value: string) => value.replace(/[\\%_]/g, (char) => `\\${char}`);
