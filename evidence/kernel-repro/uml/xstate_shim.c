/* LD_PRELOAD shim for UML 6.1 on hosts whose XSAVE area is larger than UML's buffer
 * (AVX-512/AMX): the host rejects PTRACE_SETREGSET(NT_X86_XSTATE) with EFAULT unless the
 * buffer is the full host size. Pad UML's short buffer with the tracee's current state. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/ptrace.h>

long ptrace(enum __ptrace_request req, ...)
{
	static long (*real)(int, pid_t, void *, void *);
	static char big[16384] __attribute__((aligned(64)));
	va_list ap;
	va_start(ap, req);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (long (*)(int, pid_t, void *, void *))dlsym(RTLD_NEXT, "ptrace");
	if (req == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE) {
		struct iovec *iov = data, b = { big, sizeof big };
		if (real(PTRACE_GETREGSET, pid, addr, &b) == 0 && b.iov_len > iov->iov_len) {
			memcpy(big, iov->iov_base, iov->iov_len);
			return real(PTRACE_SETREGSET, pid, addr, &b);
		}
	}
	return real(req, pid, addr, data);
}
