//! Word and palindrome scanning over a string's code points: the engines of
//! `count_unique_words`, `is_palindrome` and `word_frequencies`.

use std::collections::{HashMap, HashSet, TryReserveError};

/// Python's `str.isspace()`: Unicode White_Space plus the four ASCII separators U+001C..U+001F.
fn is_python_space(c: u32) -> bool {
    (0x1C..=0x1F).contains(&c) || char::from_u32(c).is_some_and(char::is_whitespace)
}

/// Whether a code point is ASCII punctuation, as in `string.punctuation`.
fn is_ascii_punctuation(c: u32) -> bool {
    u8::try_from(c).is_ok_and(|b| b.is_ascii_punctuation())
}

/// Distinct words among already-lowercased code points: split on whitespace, strip ASCII
/// punctuation from both ends, ignore what is left empty.
pub fn count_unique_lowered_words(text: &[u32]) -> Result<usize, TryReserveError> {
    let words = text
        .split(|&c| is_python_space(c))
        .map(|word| {
            let start = word.iter().position(|&c| !is_ascii_punctuation(c));
            let end = word.iter().rposition(|&c| !is_ascii_punctuation(c));
            match (start, end) {
                (Some(start), Some(end)) => &word[start..=end],
                _ => &[],
            }
        })
        .filter(|word| !word.is_empty());
    let mut unique = HashSet::new();
    for word in words {
        if !unique.contains(word) {
            unique.try_reserve(1)?;
            unique.insert(word);
        }
    }
    Ok(unique.len())
}

/// Whether the letters and digits among lowercased code points read the same both ways;
/// `is_letter` says which code points count (and may fail). Final sigma `ς` counts as `σ`.
///
/// The letters are gathered in place at the front of `text`, which is then left changed.
pub fn letters_read_the_same_both_ways<E>(
    text: &mut [u32],
    mut is_letter: impl FnMut(u32) -> Result<bool, E>,
) -> Result<bool, E> {
    const FINAL_SIGMA: u32 = 'ς' as u32;
    const SIGMA: u32 = 'σ' as u32;
    let mut letters = 0;
    for i in 0..text.len() {
        let c = text[i];
        if is_letter(c)? {
            text[letters] = if c == FINAL_SIGMA { SIGMA } else { c };
            letters += 1;
        }
    }
    let letters = &text[..letters];
    Ok(letters.iter().eq(letters.iter().rev()))
}

/// Whether an ASCII character is a letter or digit: what `str.isalnum` says of it.
pub fn is_ascii_letter(c: u32) -> bool {
    u8::try_from(c).is_ok_and(|b| b.is_ascii_alphanumeric())
}

/// If every code point is ASCII, lowercase them in place ('A'..='Z' -> 'a'..='z', what
/// `str.lower()` does to ASCII) and return true; otherwise change nothing and return false.
pub fn lower_if_ascii(text: &mut [u32]) -> bool {
    if !text.iter().all(|&c| c < 0x80) {
        return false;
    }
    text.iter_mut().for_each(|c| {
        if (0x41..=0x5A).contains(c) {
            *c += 0x20; // 'A'..='Z' -> 'a'..='z'
        }
    });
    true
}

/// Counts of words, keyed by their lowercased code points, in first-seen order.
pub struct WordCounts<K> {
    index: HashMap<Box<[u32]>, usize, foldhash::fast::RandomState>,
    entries: Vec<(K, u64)>,
}

impl<K> WordCounts<K> {
    pub fn new() -> Self {
        WordCounts {
            index: HashMap::default(),
            entries: Vec::new(),
        }
    }

    /// Count one more `word`; `make_key` builds the entry's key on its first occurrence.
    /// Running out of memory is the error `no_memory` makes, and then nothing is counted.
    pub fn add<E>(
        &mut self,
        word: &[u32],
        no_memory: impl Fn(TryReserveError) -> E,
        make_key: impl FnOnce() -> Result<K, E>,
    ) -> Result<(), E> {
        match self.index.get(word) {
            Some(&i) => self.entries[i].1 += 1,
            None => {
                self.index.try_reserve(1).map_err(&no_memory)?;
                self.entries.try_reserve(1).map_err(&no_memory)?;
                let mut owned = Vec::new();
                owned.try_reserve_exact(word.len()).map_err(&no_memory)?;
                owned.extend_from_slice(word);
                let key = make_key()?;
                // Both reservations above succeeded, so neither of these allocates (the
                // boxed slice reuses `owned`'s exact allocation).
                self.index
                    .insert(owned.into_boxed_slice(), self.entries.len());
                self.entries.push((key, 1));
            }
        }
        Ok(())
    }

    /// The words' keys and counts, in first-seen order.
    pub fn into_entries(self) -> Vec<(K, u64)> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cps(text: &str) -> Vec<u32> {
        text.chars().map(u32::from).collect()
    }

    #[test]
    fn unique_words_strip_punctuation_and_split_like_python() {
        assert_eq!(
            count_unique_lowered_words(&cps("hello, world! hello world -- ...")),
            Ok(2)
        );
        assert_eq!(
            count_unique_lowered_words(&cps("a\u{1c}b\u{3000}c a")),
            Ok(3)
        );
        assert_eq!(count_unique_lowered_words(&cps("")), Ok(0));
    }

    #[test]
    fn ascii_words_are_lowered_in_place_and_others_left_alone() {
        let mut word = cps("Hello, WORLD@[`{");
        assert!(lower_if_ascii(&mut word));
        assert_eq!(word, cps("hello, world@[`{"));
        let mut word = cps("HÉLLO");
        assert!(!lower_if_ascii(&mut word));
        assert_eq!(word, cps("HÉLLO"));
        assert!(lower_if_ascii(&mut []));
    }

    #[test]
    fn palindromes() {
        let palindrome = |text: &[u32]| {
            let is_letter = |c| Ok::<_, ()>(char::from_u32(c).is_some_and(char::is_alphanumeric));
            letters_read_the_same_both_ways(&mut text.to_vec(), is_letter).unwrap()
        };
        assert!(palindrome(&cps("a man a plan a canal panama")));
        assert!(palindrome(&cps("")));
        assert!(palindrome(&cps("σας")) == palindrome(&cps("ςας")));
        assert!(!palindrome(&cps("hello")));
        assert!(palindrome(&[0xD800, u32::from('a'), 0xDC00]));
        assert_eq!(
            letters_read_the_same_both_ways(&mut cps("ab"), |_| Err("asked")),
            Err("asked")
        );
    }
}
