package wasip1

import "encoding/binary"

// The numbers below are the preview1 ABI (witx "typenames"), spelled the way
// the specification does so that they can be checked against it.

var le = binary.LittleEndian

// errno is a WASI error number; the guest sees it as the function's result.
type errno uint16

const (
	errnoSuccess     errno = 0
	errnoAcces       errno = 2
	errnoAgain       errno = 6
	errnoBadf        errno = 8
	errnoBusy        errno = 10
	errnoCanceled    errno = 11
	errnoDquot       errno = 19
	errnoExist       errno = 20
	errnoFault       errno = 21
	errnoFbig        errno = 22
	errnoIntr        errno = 27
	errnoInval       errno = 28
	errnoIo          errno = 29
	errnoIsdir       errno = 31
	errnoLoop        errno = 32
	errnoMfile       errno = 33
	errnoMlink       errno = 34
	errnoNametoolong errno = 37
	errnoNfile       errno = 41
	errnoNodev       errno = 43
	errnoNoent       errno = 44
	errnoNomem       errno = 48
	errnoNospc       errno = 51
	errnoNosys       errno = 52
	errnoNotdir      errno = 54
	errnoNotempty    errno = 55
	errnoNotsock     errno = 57
	errnoNotsup      errno = 58
	errnoNotty       errno = 59
	errnoNxio        errno = 60
	errnoOverflow    errno = 61
	errnoPerm        errno = 63
	errnoPipe        errno = 64
	errnoRange       errno = 68
	errnoRofs        errno = 69
	errnoSpipe       errno = 70
	errnoTxtbsy      errno = 74
	errnoXdev        errno = 75
	errnoNotcapable  errno = 76
)

// filetype
const (
	filetypeUnknown         uint8 = 0
	filetypeBlockDevice     uint8 = 1
	filetypeCharacterDevice uint8 = 2
	filetypeDirectory       uint8 = 3
	filetypeRegularFile     uint8 = 4
	filetypeSymbolicLink    uint8 = 7
)

// oflags
const (
	oflagCreat     uint16 = 1 << 0
	oflagDirectory uint16 = 1 << 1
	oflagExcl      uint16 = 1 << 2
	oflagTrunc     uint16 = 1 << 3
)

// fdflags
const (
	fdflagAppend   uint16 = 1 << 0
	fdflagDsync    uint16 = 1 << 1
	fdflagNonblock uint16 = 1 << 2
	fdflagRsync    uint16 = 1 << 3
	fdflagSync     uint16 = 1 << 4
)

// lookupflags
const lookupSymlinkFollow uint16 = 1 << 0

// fstflags
const (
	fstflagAtim    uint16 = 1 << 0
	fstflagAtimNow uint16 = 1 << 1
	fstflagMtim    uint16 = 1 << 2
	fstflagMtimNow uint16 = 1 << 3
)

// clockid
const (
	clockRealtime  uint32 = 0
	clockMonotonic uint32 = 1
)

// eventtype and subclockflags
const (
	eventtypeClock   uint8  = 0
	eventtypeFdRead  uint8  = 1
	eventtypeFdWrite uint8  = 2
	subclockAbstime  uint16 = 1 << 0
	eventrwHangup    uint16 = 1 << 0
)

// rights
const (
	rightFdDatasync uint64 = 1 << iota
	rightFdRead
	rightFdSeek
	rightFdFdstatSetFlags
	rightFdSync
	rightFdTell
	rightFdWrite
	rightFdAdvise
	rightFdAllocate
	rightPathCreateDirectory
	rightPathCreateFile
	rightPathLinkSource
	rightPathLinkTarget
	rightPathOpen
	rightFdReaddir
	rightPathReadlink
	rightPathRenameSource
	rightPathRenameTarget
	rightPathFilestatGet
	rightPathFilestatSetSize
	rightPathFilestatSetTimes
	rightFdFilestatGet
	rightFdFilestatSetSize
	rightFdFilestatSetTimes
	rightPathSymlink
	rightPathRemoveDirectory
	rightPathUnlinkFile
	rightPollFdReadwrite
	rightSockShutdown
	rightSockAccept

	// rightsAll are all the rights preview1 defines.
	rightsAll = rightSockAccept<<1 - 1
)

// fileRights and dirRights are what fd_fdstat_get reports, the same sets as
// wazero: rights are deprecated, and libc only looks at a few of them
// (isatty wants a character device without seek and tell, F_GETFL reads
// FD_READ and FD_WRITE).
const (
	fileRights = rightFdDatasync | rightFdRead | rightFdSeek | rightFdFdstatSetFlags |
		rightFdSync | rightFdTell | rightFdWrite | rightFdAdvise | rightFdAllocate |
		rightFdFilestatGet | rightFdFilestatSetSize | rightFdFilestatSetTimes | rightPollFdReadwrite
	dirRights = rightFdDatasync | rightFdFdstatSetFlags | rightFdSync |
		rightPathCreateDirectory | rightPathCreateFile | rightPathLinkSource | rightPathLinkTarget |
		rightPathOpen | rightFdReaddir | rightPathReadlink | rightPathRenameSource |
		rightPathRenameTarget | rightPathFilestatGet | rightPathFilestatSetSize |
		rightPathFilestatSetTimes | rightFdFilestatGet | rightFdFilestatSetTimes |
		rightPathSymlink | rightPathRemoveDirectory | rightPathUnlinkFile
)

// Sizes of the structures the guest passes by pointer.
const (
	sizeDirent       = 24
	sizeFdstat       = 24
	sizeFilestat     = 64
	sizeIovec        = 8
	sizeSubscription = 48
	sizeEvent        = 32
)
