//! The copy engine of `restore` and `persist`: an absolute PATH (`paths`) looked up beneath a
//! directory without following a symlink (`source`), its destination under a root directory
//! (`dest`), and the copy itself (`copier`): type, owner, mode, times, extended attributes and
//! ACLs (`meta`), hard links within the copy kept, holes and reflinks (`crate::sparse`), each new
//! entry made under a temporary name and renamed into place. Nothing here knows where the source
//! is (an archive, the running system) or which command runs it; the commands check what they
//! must before they call it.

mod copier;
pub mod dest;
pub mod meta;
pub mod paths;
pub mod source;

pub use copier::Copier;

/// Prints the refusals of a run that copies nothing (`cmd: the fix ...: nothing was copied`);
/// its exit code, 1.
pub fn refused(cmd: &str, refused: &[String], of: usize) -> u8 {
    if let [one] = refused {
        eprintln!("blankroot: error: {cmd}: {one}: nothing was copied");
        return 1;
    }
    for r in refused {
        eprintln!("blankroot: refused: {r}");
    }
    eprintln!(
        "blankroot: error: {cmd}: {} of {of} paths refused (listed above): nothing was copied",
        refused.len()
    );
    1
}
