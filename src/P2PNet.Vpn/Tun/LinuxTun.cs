using System.Runtime.InteropServices;

namespace P2PNet.Vpn.Tun;

/// <summary>The few libc calls a TUN device needs (linux/if_tun.h, poll(2), read(2), write(2), readv(2), writev(2)).</summary>
internal static partial class LinuxTun
{
    public const int ORdWr = 0x2;
    public const int OCloExec = 0x80000;
    public const int ONonBlock = 0x800;
    public const ulong TunSetIff = 0x400454ca; // _IOW('T', 202, int)
    public const short IffTun = 0x0001;
    public const short IffNoPi = 0x1000;
    public const short IffVnetHdr = 0x4000;
    public const ulong TunSetOffload = 0x400454d0; // _IOW('T', 208, unsigned int), argument by value
    public const ulong TunSetVnetHdrSz = 0x400454d8; // _IOW('T', 216, int)
    public const uint TunFCsum = 0x01;
    public const uint TunFTso4 = 0x02;
    public const uint TunFTso6 = 0x04;
    public const uint TunFUso4 = 0x20;
    public const uint TunFUso6 = 0x40;
    public const int EInval = 22;
    public const int EIo = 5;
    public const short PollIn = 0x1;
    public const int EIntr = 4;
    public const int EAgain = 11;
    public const int EPerm = 1;
    public const int EAcces = 13;
    public const int IfNameSize = 16;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int Ioctl(int fd, ulong request, byte* argument);

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, nuint argument);

    [LibraryImport("libc", EntryPoint = "readv", SetLastError = true)]
    public static unsafe partial nint ReadV(int fd, IoVec* vectors, int count);

    [LibraryImport("libc", EntryPoint = "writev", SetLastError = true)]
    public static unsafe partial nint WriteV(int fd, IoVec* vectors, int count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);
}
