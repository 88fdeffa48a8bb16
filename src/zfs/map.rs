//! Names to values, kept sorted by name: the part of `BTreeMap<String, V>` the pool model uses,
//! with much less code in the binary (a pool has tens of datasets, not millions). Iteration is in
//! name order, as with `BTreeMap`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map<V> {
    items: Vec<(String, V)>,
}

/// A set of names.
pub type Set = Map<()>;

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map { items: Vec::new() }
    }
}

impl<V> Map<V> {
    pub fn new() -> Self {
        Map::default()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.items.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.find(key).ok().map(|i| &self.items[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.items[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Puts `value` under `key`, returning the value it replaces.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, value)),
            Err(i) => {
                self.items.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.find(key).ok().map(|i| self.items.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.items.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut V)> {
        self.items.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.items.iter().map(|(k, _)| k)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.items.iter_mut().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&String, &V) -> bool) {
        self.items.retain(|(k, v)| keep(k, v));
    }
}

impl Set {
    /// Adds a name; true when it was not there yet.
    pub fn add(&mut self, name: String) -> bool {
        self.insert(name, ()).is_none()
    }
}

impl<V> std::ops::Index<&str> for Map<V> {
    type Output = V;

    fn index(&self, key: &str) -> &V {
        self.get(key).expect("no such key in the map")
    }
}

/// Later values win over earlier ones with the same name.
impl<V> FromIterator<(String, V)> for Map<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<V, const N: usize> From<[(String, V); N]> for Map<V> {
    fn from(items: [(String, V); N]) -> Self {
        items.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut m: Map<u32> = [("b", 2), ("a", 1), ("c", 3), ("a", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(m["a"], 4);
        assert_eq!(m.insert("b".into(), 5), Some(2));
        assert_eq!(m.insert("0".into(), 0), None);
        assert_eq!(m.remove("c"), Some(3));
        assert_eq!(m.remove("c"), None);
        *m.get_mut("0").unwrap() += 7;
        for v in m.values_mut() {
            *v += 1;
        }
        let all: Vec<(String, u32)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(all, [("0".into(), 8), ("a".into(), 5), ("b".into(), 6)]);
        m.retain(|k, _| k != "a");
        assert!(!m.contains_key("a") && m.contains_key("b") && m.len() == 2);
        let mut s = Set::new();
        assert!(s.add("x".into()) && !s.add("x".into()) && !s.is_empty());
    }
}
