/* brt-floor: the least any snapshot rollback of a Btrfs root does at boot, for bench/boot-cost.sh
 * (test-only, never part of blankroot). Built with `cc -static`.
 *
 *   brt-floor DEV BLANK DEST   mount the top level of DEV (subvolid=5, with blankroot's mount
 *                              flags), snapshot BLANK to DEST (writable, as blankroot's first
 *                              step), unmount. The snapshot ioctl commits its transaction and the
 *                              unmount commits again: DEST is durable when it exits.
 *   brt-floor --start          exit at once (the cost of starting a small static process)
 *   brt-floor --drop-caches    sync, then drop the page cache (echo 3 >/proc/sys/vm/drop_caches)
 *
 * One process, no output on success: nothing a rollback could leave out. */
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR "/run/brt-floor"

static int fail(const char *what)
{
	fprintf(stderr, "brt-floor: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct btrfs_ioctl_vol_args_v2 args;
	char path[4096];
	int top, src, rc = 0;

	if (argc == 2 && strcmp(argv[1], "--start") == 0)
		return 0;
	if (argc == 2 && strcmp(argv[1], "--drop-caches") == 0) {
		int fd;

		sync();
		fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "3\n", 2) != 2)
			return fail("/proc/sys/vm/drop_caches");
		close(fd);
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: brt-floor DEV BLANK DEST | --start | --drop-caches\n");
		return 2;
	}
	if (mkdir(DIR, 0700) < 0 && errno != EEXIST)
		return fail("mkdir " DIR);
	/* blankroot's top-level mount: the same flags and data (src/btrfs/mount.rs). */
	if (mount(argv[1], DIR, "btrfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME, "subvolid=5") < 0)
		return fail("mount");
	snprintf(path, sizeof path, DIR "/%s", argv[2]);
	top = open(DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	src = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 || src < 0) {
		rc = fail("open");
	} else {
		memset(&args, 0, sizeof args);
		args.fd = src;
		snprintf(args.name, sizeof args.name, "%s", argv[3]);
		if (ioctl(top, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0)
			rc = fail("BTRFS_IOC_SNAP_CREATE_V2");
	}
	if (src >= 0)
		close(src);
	if (top >= 0)
		close(top);
	if (umount(DIR) < 0)
		return fail("umount");
	rmdir(DIR);
	return rc;
}
