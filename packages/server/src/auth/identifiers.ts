/**
 * How usernames and emails are compared (SPEC §2, issue 10 items 15–16). Each is stored beside its key,
 * and the unique index is on the key, so two spellings that a person would read as one name cannot both
 * exist.
 *
 * - Usernames follow PRECIS UsernameCaseMapped (RFC 8265 §3.3): NFKC (so full-width `ａｄｍｉｎ` is `admin`)
 *   and a full case fold (upper then lower: `ß`→`ss`, the Kelvin sign `K`→`k`, dotless `ı`→`i`), then the
 *   combining dot above is dropped (Turkish `İ` lower-cases to `i` + U+0307, which would otherwise make
 *   `ADMİN` a second `admin`), and the result is NFC.
 * - Emails: ASCII letters folded only, then NFC. Full Unicode lower-casing (or NFC first, which maps the
 *   Kelvin sign U+212A to `K`) would let a provider-asserted `\u212Aate@example.com` match
 *   `kate@example.com`; the ASCII fold keeps `Kate@Example.com` equal to `kate@example.com` (SPEC §2).
 *
 * @example
 *   usernameKey('ＡＤＭＩＮ') === usernameKey('admın'); // true: both are 'admin'
 */

/** The username key: NFKC + full case fold (+ U+0307 dropped), NFC. */
export function usernameKey(value: string): string {
  const folded = value.normalize('NFKC').toUpperCase().toLowerCase();
  return folded
    .normalize('NFD')
    .replace(/\u0307/g, '')
    .normalize('NFC');
}

/**
 * The email key: ASCII letters lower-cased, then NFC; every other character compared exactly. The fold
 * comes first on purpose: NFC turns the Kelvin sign into a capital `K`, which must then stay a capital.
 */
export function emailKey(value: string): string {
  return value.replace(/[A-Z]+/g, (letters) => letters.toLowerCase()).normalize('NFC');
}

/**
 * Characters a username may not hold: controls, format characters (bidirectional controls, zero-width
 * joiners, soft hyphen), other default-ignorable code points (variation selectors, fillers), private-use
 * and unassigned code points, lone surrogates, and any white space but the plain space. Each would make
 * a name that displays like another one, or not at all.
 */
const REFUSED_IN_USERNAME = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}]|(?! )\p{White_Space}/u;

/** True when `value` holds a character {@link REFUSED_IN_USERNAME} names. */
export function hasRefusedUsernameCharacter(value: string): boolean {
  // With the `u` flag a lone surrogate is one code point of category Cs, so the class catches it.
  return REFUSED_IN_USERNAME.test(value);
}
