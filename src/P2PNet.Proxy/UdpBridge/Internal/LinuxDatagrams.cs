using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>
/// libc's <c>sendmmsg(2)</c> and <c>recvmmsg(2)</c>: many datagrams in one system call. Used by
/// <see cref="UdpSendBatch"/> and <see cref="UdpReceiveBatch"/> on 64-bit Linux, where the bridge's cost per datagram
/// is mostly system calls; elsewhere they fall back to one managed socket call per datagram.
/// </summary>
/// <remarks>
/// Every call passes <c>MSG_DONTWAIT</c>: it never blocks, whatever mode .NET keeps the descriptor in, and reports
/// "would block" as <see cref="EAgain"/> so the caller can wait through the managed socket instead.
/// The structures follow the LP64 layout of <c>struct msghdr</c>, <c>struct mmsghdr</c> and <c>struct iovec</c>.
/// </remarks>
internal static unsafe partial class LinuxDatagrams
{
    public const int MsgDontWait = 0x40;
    public const int MsgTrunc = 0x20;
    public const int EIntr = 4;
    public const int EAgain = 11;

    /// <summary>Whether this process can use the batched calls (64-bit Linux).</summary>
    public static bool IsSupported { get; } =
        OperatingSystem.IsLinux() && Environment.Is64BitProcess
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public byte* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public byte* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    /// <summary>Sends up to <paramref name="count"/> datagrams without blocking.</summary>
    /// <returns>How many were sent (from the first), or -1 with <paramref name="errno"/> when the first failed.</returns>
    public static int Send(Socket socket, MMsgHdr* messages, int count, out int errno)
    {
        SafeHandle handle = socket.SafeHandle;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int result;
            do
            {
                result = SendMMsg((int)handle.DangerousGetHandle(), messages, (uint)count, MsgDontWait);
                errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            while (result < 0 && errno == EIntr);

            return result;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Receives up to <paramref name="count"/> queued datagrams without blocking.</summary>
    /// <returns>How many were received, or -1 with <paramref name="errno"/> (<see cref="EAgain"/>: none queued).</returns>
    public static int Receive(Socket socket, MMsgHdr* messages, int count, out int errno)
    {
        SafeHandle handle = socket.SafeHandle;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int result;
            do
            {
                result = RecvMMsg((int)handle.DangerousGetHandle(), messages, (uint)count, MsgDontWait, null);
                errno = result < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            while (result < 0 && errno == EIntr);

            return result;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>A <see cref="SocketException"/> for a failed call; the common errors keep their managed meaning.</summary>
    public static SocketException ToException(int errno, string call)
    {
        SocketError error = errno switch
        {
            EAgain => SocketError.WouldBlock,
            1 or 13 => SocketError.AccessDenied,         // EPERM, EACCES
            9 or 88 => SocketError.OperationAborted,     // EBADF, ENOTSOCK
            22 => SocketError.InvalidArgument,           // EINVAL
            90 => SocketError.MessageSize,               // EMSGSIZE
            97 => SocketError.AddressFamilyNotSupported, // EAFNOSUPPORT
            101 => SocketError.NetworkUnreachable,       // ENETUNREACH
            104 => SocketError.ConnectionReset,          // ECONNRESET
            105 => SocketError.NoBufferSpaceAvailable,   // ENOBUFS
            111 => SocketError.ConnectionRefused,        // ECONNREFUSED
            113 => SocketError.HostUnreachable,          // EHOSTUNREACH
            _ => SocketError.SocketError,
        };
        return new SocketException((int)error, $"{call} failed with errno {errno}.");
    }

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);
}
