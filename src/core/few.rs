//! `FewSet`: the members of one index entry, which are almost always one.
//!
//! At 10k ExposedAPIs every index entry is a set of one (the one route claiming a path, the one
//! API of an implementation Service). A `BTreeSet` allocates a whole node for it (~600 bytes for a
//! pair of strings); a sorted `Vec` holds it in its own size, and stays ordered for the rare
//! entries with several members.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FewSet<T>(Vec<T>);

impl<T> Default for FewSet<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Ord> FewSet<T> {
    pub fn insert(&mut self, member: T) {
        if let Err(at) = self.0.binary_search(&member) {
            self.0.insert(at, member);
        }
    }

    pub fn remove(&mut self, member: &T) {
        if let Ok(at) = self.0.binary_search(member) {
            self.0.remove(at);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::FewSet;

    #[test]
    fn a_sorted_set_without_repeats() {
        let mut set = FewSet::default();
        for member in ["b", "a", "c", "a"] {
            set.insert(member);
        }
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), ["a", "b", "c"]);
        set.remove(&"b");
        set.remove(&"x");
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), ["a", "c"]);
        set.remove(&"a");
        set.remove(&"c");
        assert!(set.is_empty());
    }
}
