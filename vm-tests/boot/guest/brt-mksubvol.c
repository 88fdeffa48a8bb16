/* brt-mksubvol PATH: creates a Btrfs subvolume at PATH;
 * brt-mksubvol -r SOURCE PATH: a read-only snapshot of the subvolume SOURCE at PATH.
 * A test-only helper for the boot tests' stage 2, which has busybox but no btrfs-progs. Built with
 * `cc -static`. */
#include <fcntl.h>
#include <linux/btrfs.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char parent[4096], name[4096];
	const char *path;
	int fd, src = -1, rc;

	if (argc == 4 && strcmp(argv[1], "-r") == 0) {
		src = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (src < 0) {
			perror("brt-mksubvol: open source");
			return 1;
		}
		path = argv[3];
	} else if (argc == 2) {
		path = argv[1];
	} else {
		fprintf(stderr, "usage: brt-mksubvol PATH | brt-mksubvol -r SOURCE PATH\n");
		return 2;
	}
	snprintf(parent, sizeof parent, "%s", path);
	snprintf(name, sizeof name, "%s", path);
	fd = open(dirname(parent), O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror("brt-mksubvol: open parent");
		return 1;
	}
	if (src >= 0) {
		struct btrfs_ioctl_vol_args_v2 v2;

		memset(&v2, 0, sizeof v2);
		v2.fd = src;
		v2.flags = BTRFS_SUBVOL_RDONLY;
		snprintf(v2.name, sizeof v2.name, "%s", basename(name));
		rc = ioctl(fd, BTRFS_IOC_SNAP_CREATE_V2, &v2);
	} else {
		struct btrfs_ioctl_vol_args args;

		memset(&args, 0, sizeof args);
		snprintf(args.name, sizeof args.name, "%s", basename(name));
		rc = ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args);
	}
	if (rc < 0) {
		perror(src >= 0 ? "brt-mksubvol: BTRFS_IOC_SNAP_CREATE_V2" : "brt-mksubvol: BTRFS_IOC_SUBVOL_CREATE");
		return 1;
	}
	close(fd);
	return 0;
}
