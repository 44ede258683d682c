using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace P2PNet.Transports;

/// <summary>
/// Keeps accept loops from using the process's last file descriptors. The .NET runtime itself needs a descriptor now and
/// then (starting a thread-pool thread reads <c>/proc/self/status</c>), and when it finds none it aborts the whole process
/// with "Out of memory." — so a flood of inbound connections up to the descriptor limit would crash the node instead of
/// being refused. Linux hands out the lowest free descriptor number, so an accepted socket numbered within
/// <see cref="Reserve"/> of the soft <c>RLIMIT_NOFILE</c> means (almost) every descriptor below it is in use: the listener
/// closes that connection at once and backs off as if accepting had failed with EMFILE.
/// </summary>
/// <remarks>Linux only (elsewhere <see cref="IsExhausted"/> is always <see langword="false"/>); the limit is read on every
/// check, so a limit changed while the process runs (<c>prlimit --pid</c>) counts at once.</remarks>
internal static partial class DescriptorReserve
{
    /// <summary>Descriptors kept free for the runtime, files, DNS and outbound dials.</summary>
    internal const int Reserve = 32;

    private const int RlimitNofile = 7; // RLIMIT_NOFILE on Linux

    /// <summary>The error an accept loop reports when it sheds a connection for want of descriptors.</summary>
    internal static SocketException Exhausted() => new((int)SocketError.TooManyOpenSockets);

    /// <summary>Whether <paramref name="accepted"/> took one of the last <see cref="Reserve"/> descriptors.</summary>
    internal static bool IsExhausted(Socket accepted)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        long descriptor = accepted.SafeHandle.DangerousGetHandle();
        long limit = SoftLimit();
        return descriptor >= limit - Math.Min(Reserve, limit / 4);
    }

    private static long SoftLimit()
    {
        if (GetRLimit(RlimitNofile, out var limit) != 0 || limit.Current > long.MaxValue)
        {
            return long.MaxValue; // unknown or unlimited: nothing to keep back
        }
        return (long)limit.Current;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetRLimit(int resource, out RLimit limit);
}
