//! The seed layouts, rolled back for real on loop-mounted btrfs.

mod common;
use common::*;

#[test]
fn seed_002_delete_mode_resets_root_and_keeps_everything_else() {
    if !root_or_skip("seed_002_delete_mode") {
        return;
    }
    let img = Image::new(512);
    seed_layout(&img, false);
    let (before, old_root) = {
        let m = img.mount();
        (persistent_state(&m), m.id("root"))
    };
    img.rollback(&[]).ok();
    let m = img.mount();
    assert!(!m.exists("root/etc/canary"), "canary survived");
    assert_eq!(
        m.tree("root"),
        m.tree("root-blank"),
        "new root equals the blank"
    );
    assert!(!m.read_only("root"), "new root is writable");
    assert_ne!(m.id("root"), old_root);
    assert_eq!(persistent_state(&m), before, "other subvolumes changed");
    m.write("root/etc/writable", "yes\n");
    assert_eq!(img.status()["action"], "rolled-back");
}
