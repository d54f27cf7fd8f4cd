package fsmethods

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/appserver-go/appserver"
	"github.com/appserver-go/appserver/jsonrpc"
)

type copyParams struct {
	SourcePath      *string `json:"sourcePath"`
	DestinationPath *string `json:"destinationPath"`
	Recursive       *bool   `json:"recursive"`
}

func (p *copyParams) Validate() error {
	if err := checkAbs(p.SourcePath); err != nil {
		return err
	}
	if err := checkAbs(p.DestinationPath); err != nil {
		return err
	}
	if p.SourcePath == nil {
		return appserver.MissingField("sourcePath")
	}
	if p.DestinationPath == nil {
		return appserver.MissingField("destinationPath")
	}
	return nil
}

// copy implements fs/copy as the reference does: the source is never
// followed if it is a symlink (the link is copied), a directory needs
// recursive:true and is merged into an existing destination directory
// (missing parents are created), files keep their permission bits,
// directories get the default mode, links inside are copied as links, and
// other file types inside a tree are skipped.
func (f *fsMethods) copy(ctx context.Context, s *appserver.Session, p copyParams) (any, error) {
	src, err := f.checkPath(*p.SourcePath)
	if err != nil {
		return nil, err
	}
	dst, err := f.checkPath(*p.DestinationPath)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(src)
	if err != nil {
		return nil, osError(err)
	}
	switch mode := fi.Mode(); {
	case mode&fs.ModeSymlink != 0:
		err = copySymlink(src, dst)
	case mode.IsDir():
		if p.Recursive == nil || !*p.Recursive {
			return nil, refuse("fs/copy requires recursive: true when sourcePath is a directory")
		}
		if within(resolveLoose(dst), resolveLoose(src)) {
			return nil, refuse("fs/copy cannot copy a directory to itself or one of its descendants")
		}
		err = copyTree(ctx, src, dst, f.checkOpened)
	case mode.IsRegular():
		err = copyFile(src, dst, f.checkOpened)
	default:
		return nil, refuse("fs/copy only supports regular files, directories, and symlinks")
	}
	if err != nil {
		var rpcErr *jsonrpc.Error
		if errors.Is(err, context.Canceled) || errors.As(err, &rpcErr) {
			return nil, err
		}
		return nil, osError(err)
	}
	return empty{}, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// resolveLoose resolves the symlinks of p; for a path that does not exist,
// those of its longest existing prefix.
func resolveLoose(p string) string {
	rest := ""
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

func copySymlink(src, dst string) error {
	target, err := os.Readlink(src)
	if err != nil {
		return err
	}
	return os.Symlink(target, dst) // an existing dst: "File exists", as the reference
}

// copyFile copies one regular file, writing through a symlink at dst as
// the reference does. Copying a file onto itself is a no-op: the
// reference truncates it to nothing. check judges each file as opened
// (fsMethods.checkOpened): the destination is truncated only after it.
func copyFile(src, dst string, check func(*os.File) error) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := check(in); err != nil {
		return err
	}
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() { // swapped since the Lstat
		return &fs.PathError{Op: "open", Path: src, Err: syscall.EINVAL}
	}
	if dfi, err := os.Stat(dst); err == nil && os.SameFile(info, dfi) {
		return nil
	}
	// O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of hanging.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|syscall.O_NONBLOCK|syscall.O_CLOEXEC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if err := check(out); err != nil {
		out.Close()
		return err
	}
	if err := out.Truncate(0); err != nil {
		out.Close()
		return err
	}
	return finishCopy(out, in, info.Mode().Perm())
}

func finishCopy(out, in *os.File, perm fs.FileMode) error {
	_, err := io.Copy(out, in) // copy_file_range where the kernel allows
	if err == nil {
		err = out.Chmod(perm)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyTree copies the directory src into dst. Both sides are walked
// through os.Root, so a symlink swapped in during the copy cannot take
// the walk outside either tree, and the destination directory itself is
// never descended into, so a copy cannot chase its own output.
//
// Each side is opened once, judged by check as opened, and walked from
// that descriptor.
func copyTree(ctx context.Context, src, dst string, check func(*os.File) error) error {
	if err := mkdirAll(dst); err != nil {
		return err
	}
	srcRoot, err := openCheckedRoot(src, check)
	if err != nil {
		return err
	}
	defer srcRoot.Close()
	dstRoot, err := openCheckedRoot(dst, check)
	if err != nil {
		return err
	}
	defer dstRoot.Close()
	dstInfo, err := dstRoot.Stat(".")
	if err != nil {
		return err
	}
	c := &treeCopy{ctx: ctx, src: srcRoot, dst: dstRoot, dstInfo: dstInfo}
	return c.dir(".")
}

// openCheckedRoot opens the directory at path, lets check judge it as
// opened, and returns an os.Root on that very directory.
func openCheckedRoot(path string, check func(*os.File) error) (*os.Root, error) {
	d, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if err := check(d); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot("/proc/self/fd/" + strconv.Itoa(int(d.Fd())))
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: pe.Err}
	}
	return r, err
}

type treeCopy struct {
	ctx      context.Context
	src, dst *os.Root
	dstInfo  fs.FileInfo
}

func (c *treeCopy) dir(rel string) error {
	d, err := c.src.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		batch, rerr := d.ReadDir(256)
		for _, e := range batch {
			if err := c.entry(filepath.Join(rel, e.Name()), e); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		if err := c.ctx.Err(); err != nil {
			return err
		}
	}
}

func (c *treeCopy) entry(name string, e fs.DirEntry) error {
	switch t := e.Type(); {
	case t.IsDir():
		info, err := e.Info()
		if err != nil {
			return err
		}
		if os.SameFile(info, c.dstInfo) {
			return nil // the destination, inside the source after a race
		}
		if err := c.dst.Mkdir(name, 0o777); err != nil {
			if fi, serr := c.dst.Stat(name); serr != nil || !fi.IsDir() {
				return err
			}
		}
		return c.dir(name)
	case t&fs.ModeSymlink != 0:
		target, err := c.src.Readlink(name)
		if err != nil {
			return err
		}
		return c.dst.Symlink(target, name)
	case t.IsRegular():
		in, err := c.src.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer in.Close()
		info, err := in.Stat()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		out, err := c.dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NONBLOCK, info.Mode().Perm())
		if err != nil {
			return err
		}
		return finishCopy(out, in, info.Mode().Perm())
	}
	return nil // FIFOs, sockets, devices: skipped, as the reference
}
