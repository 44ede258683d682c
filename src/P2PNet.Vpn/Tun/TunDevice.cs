using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tun;

/// <summary>
/// A Linux TUN device (<c>/dev/net/tun</c>, <c>IFF_TUN | IFF_NO_PI</c>: bare IP packets). The device exists while this
/// object is open and disappears, with its address and routes, when it is disposed. Address, MTU and the route to the
/// VPN network are set with iproute2's <c>ip</c>. Needs CAP_NET_ADMIN (<see cref="VpnPermissionException"/> otherwise).
/// </summary>
/// <remarks>
/// <para>With <see cref="Offload"/> (the default) the device is opened with <c>IFF_VNET_HDR</c> and checksum and
/// segmentation offload (<c>TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6</c>, plus <c>TUN_F_USO4 | TUN_F_USO6</c> where the kernel
/// has them): the kernel hands a <see cref="VpnEndpoint"/> TCP/UDP super-packets of up to 64 KiB with their checksums
/// still to do, and takes such packets back, so one system call moves dozens of MTU-sized packets. Through
/// <see cref="IPacketDevice"/> the device still reads and writes finished packets (it segments and checksums itself).</para>
/// <para>Reads block in the kernel (polled, so cancellation is seen within <see cref="PollInterval"/>); the network
/// reads from one dedicated thread. Writes are one system call each and may come from several threads.</para>
/// </remarks>
public sealed class TunDevice : IPacketDevice, IOffloadPacketDevice, IPacketBatchSource
{
    /// <summary>How often a blocked read checks its cancellation token.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    private const int MaxSuperPacket = ushort.MaxValue;

    // A 64 KiB packet in a stream's 16 KiB blocks is 5 or 6 pieces; more pieces are copied into one buffer first.
    private const int MaxWriteVectors = 16;

    // Pins of one writev(2); writes are synchronous, so one set per writing thread suffices.
    [ThreadStatic]
    private static MemoryHandle[]? t_pins;

    private int _fd;

    // Offload mode, IPacketDevice reads: the super-packet being handed out one segment per read.
    private byte[]? _pending;
    private int _pendingLength;
    private int _pendingNext;
    private int _pendingCount;
    private PacketOffload _pendingOffload;

    private TunDevice(int fd, string name, bool offload)
    {
        _fd = fd;
        Name = name;
        Offload = offload;
    }

    /// <summary>The interface name the kernel gave the device.</summary>
    public string Name { get; }

    /// <summary>Whether the device was opened with <c>IFF_VNET_HDR</c> and checksum/segmentation offload.</summary>
    public bool Offload { get; }

    bool IOffloadPacketDevice.OffloadEnabled => Offload;

    /// <summary>Creates a TUN device called <paramref name="name"/> (a <c>%d</c> in it takes the next free number).</summary>
    /// <param name="name">The interface name, at most 15 characters.</param>
    /// <param name="offload">Open with <c>IFF_VNET_HDR</c> and TSO/USO/checksum offload (see the remarks on <see cref="TunDevice"/>).</param>
    /// <exception cref="VpnPermissionException">The process lacks CAP_NET_ADMIN.</exception>
    /// <exception cref="VpnDeviceException">/dev/net/tun is missing or the kernel refused the device.</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    public static unsafe TunDevice Create(string name = "p2pnet%d", bool offload = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("TUN devices are supported on Linux only; use UserSpacePacketDevice elsewhere.");
        }
        byte[] nameBytes = Encoding.ASCII.GetBytes(name);
        if (nameBytes.Length >= LinuxTun.IfNameSize)
        {
            throw new ArgumentException($"An interface name has at most {LinuxTun.IfNameSize - 1} characters: '{name}'.", nameof(name));
        }
        int fd = LinuxTun.Open("/dev/net/tun", LinuxTun.ORdWr | LinuxTun.OCloExec | LinuxTun.ONonBlock);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is LinuxTun.EPerm or LinuxTun.EAcces)
            {
                throw new VpnPermissionException($"Opening /dev/net/tun was refused ({Marshal.GetPInvokeErrorMessage(errno)}): a TUN device needs CAP_NET_ADMIN. Run as root or grant the capability (setcap cap_net_admin+ep).");
            }
            throw new VpnDeviceException($"Cannot open /dev/net/tun: {Marshal.GetPInvokeErrorMessage(errno)}. Is the tun module loaded (modprobe tun)?");
        }
        // struct ifreq: char ifr_name[IFNAMSIZ]; short ifr_flags; padded to 40 bytes.
        byte* ifreq = stackalloc byte[40];
        new Span<byte>(ifreq, 40).Clear();
        nameBytes.CopyTo(new Span<byte>(ifreq, LinuxTun.IfNameSize));
        *(short*)(ifreq + LinuxTun.IfNameSize) = (short)(LinuxTun.IffTun | LinuxTun.IffNoPi | (offload ? LinuxTun.IffVnetHdr : 0));
        if (LinuxTun.Ioctl(fd, LinuxTun.TunSetIff, ifreq) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            LinuxTun.Close(fd);
            if (errno is LinuxTun.EPerm or LinuxTun.EAcces)
            {
                throw new VpnPermissionException($"Creating TUN device '{name}' was refused ({Marshal.GetPInvokeErrorMessage(errno)}): it needs CAP_NET_ADMIN. Run as root or grant the capability (setcap cap_net_admin+ep).");
            }
            throw new VpnDeviceException($"Creating TUN device '{name}' failed: {Marshal.GetPInvokeErrorMessage(errno)}.");
        }
        if (offload)
        {
            int headerSize = PacketOffload.VirtioHeaderSize;
            if (LinuxTun.Ioctl(fd, LinuxTun.TunSetVnetHdrSz, (byte*)&headerSize) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                LinuxTun.Close(fd);
                throw new VpnDeviceException($"Setting the virtio-net header size of TUN device '{name}' failed: {Marshal.GetPInvokeErrorMessage(errno)}.");
            }
            // UDP segmentation offload (Linux 6.2) is optional; without any offload the header stays and says "complete".
            uint basic = LinuxTun.TunFCsum | LinuxTun.TunFTso4 | LinuxTun.TunFTso6;
            if (LinuxTun.Ioctl(fd, LinuxTun.TunSetOffload, basic | LinuxTun.TunFUso4 | LinuxTun.TunFUso6) < 0
                && LinuxTun.Ioctl(fd, LinuxTun.TunSetOffload, basic) < 0)
            {
                LinuxTun.Ioctl(fd, LinuxTun.TunSetOffload, LinuxTun.TunFCsum);
            }
        }
        var span = new ReadOnlySpan<byte>(ifreq, LinuxTun.IfNameSize);
        int end = span.IndexOf((byte)0);
        return new TunDevice(fd, Encoding.ASCII.GetString(end < 0 ? span : span[..end]), offload);
    }

    /// <inheritdoc />
    public async ValueTask ConfigureAsync(IPAddress address, int prefixLength, int mtu, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        await RunIpAsync(cancellationToken, "addr", "flush", "dev", Name).ConfigureAwait(false);
        // The prefix gives the kernel the route to the whole VPN network through this device.
        await RunIpAsync(cancellationToken, "addr", "add", $"{address}/{prefixLength}", "dev", Name).ConfigureAwait(false);
        await RunIpAsync(cancellationToken, "link", "set", "dev", Name, "mtu", mtu.ToString(System.Globalization.CultureInfo.InvariantCulture), "up").ConfigureAwait(false);
    }

    private static async Task RunIpAsync(CancellationToken cancellationToken, params string[] arguments)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new VpnDeviceException("Cannot start 'ip' (iproute2).");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new VpnDeviceException("Cannot run 'ip': install iproute2.", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            string error = (await stderr.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0)
            {
                string command = "ip " + string.Join(' ', arguments);
                if (error.Contains("not permitted", StringComparison.OrdinalIgnoreCase))
                {
                    throw new VpnPermissionException($"'{command}' needs CAP_NET_ADMIN: {error}");
                }
                throw new VpnDeviceException($"'{command}' failed (exit {process.ExitCode}): {error}");
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>With <see cref="Offload"/>, a super-packet from the kernel is returned one finished segment per call, and a
    /// packet larger than <paramref name="buffer"/> is dropped.</remarks>
    public ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!Offload)
        {
            return ValueTask.FromResult(Read(Span<byte>.Empty, buffer, cancellationToken));
        }
        _pending ??= new byte[MaxSuperPacket];
        Span<byte> header = stackalloc byte[PacketOffload.VirtioHeaderSize];
        while (true)
        {
            if (_pendingNext < _pendingCount)
            {
                var packet = _pending.AsSpan(0, _pendingLength);
                if (Segmenter.MaxSegmentLength(packet, _pendingOffload) > buffer.Length)
                {
                    _pendingCount = 0;
                    continue;
                }
                return ValueTask.FromResult(Segmenter.WriteSegment(packet, _pendingOffload, _pendingNext++, buffer.Span));
            }
            int length = Read(header, _pending, cancellationToken);
            if (length <= 0)
            {
                return ValueTask.FromResult(0);
            }
            if (PacketOffload.TryReadVirtioHeader(header, out var offload) && offload.IsValidFor(_pending.AsSpan(0, length)))
            {
                _pendingLength = length;
                _pendingOffload = offload;
                _pendingNext = 0;
                _pendingCount = Segmenter.SegmentCount(_pending.AsSpan(0, length), offload);
            }
        }
    }

    ValueTask<OffloadedPacket> IOffloadPacketDevice.ReadOffloadedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ReadOffloaded(buffer, block: true, out var packet, cancellationToken);
        return ValueTask.FromResult(packet);
    }

    bool IPacketBatchSource.TryReadPacket(Memory<byte> buffer, out int length)
    {
        length = Offload ? -1 : Read(Span<byte>.Empty, buffer, CancellationToken.None, block: false);
        if (length < 0)
        {
            length = 0;
            return false;
        }
        return true;
    }

    bool IPacketBatchSource.TryReadOffloaded(Memory<byte> buffer, out OffloadedPacket packet)
    {
        packet = default;
        return Offload && ReadOffloaded(buffer, block: false, out packet, CancellationToken.None);
    }

    /// <summary>Reads one packet with its virtio-net header (length 0 when closed); without <paramref name="block"/>,
    /// false when none is queued.</summary>
    private bool ReadOffloaded(Memory<byte> buffer, bool block, out OffloadedPacket packet, CancellationToken cancellationToken)
    {
        Span<byte> header = stackalloc byte[PacketOffload.VirtioHeaderSize];
        while (true)
        {
            int length = Read(header, buffer, cancellationToken, block);
            if (length <= 0)
            {
                packet = default;
                return length == 0;
            }
            // The kernel only hands over what TUNSETOFFLOAD enabled; anything else would be a kernel bug: skip it.
            if (PacketOffload.TryReadVirtioHeader(header, out var offload))
            {
                packet = new OffloadedPacket(length, offload);
                return true;
            }
        }
    }

    /// <summary>Reads one packet (behind a virtio-net header when <paramref name="header"/> is not empty); 0 when closed;
    /// without <paramref name="block"/>, −1 when none is queued.</summary>
    private unsafe int Read(Span<byte> header, Memory<byte> buffer, CancellationToken cancellationToken, bool block = true)
    {
        var poll = new LinuxTun.PollFd { Events = LinuxTun.PollIn };
        using var pin = buffer.Pin();
        fixed (byte* headerPointer = header)
        {
            var vectors = stackalloc LinuxTun.IoVec[2];
            vectors[0] = new LinuxTun.IoVec { Base = headerPointer, Length = (nuint)header.Length };
            vectors[1] = new LinuxTun.IoVec { Base = (byte*)pin.Pointer, Length = (nuint)buffer.Length };
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int fd = Volatile.Read(ref _fd);
                if (fd < 0)
                {
                    return 0;
                }
                // Non-blocking: read first, and only when nothing is waiting block in poll (bounded, to see cancellation).
                nint n = header.IsEmpty
                    ? LinuxTun.Read(fd, (byte*)pin.Pointer, (nuint)buffer.Length)
                    : LinuxTun.ReadV(fd, vectors, 2);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LinuxTun.EIntr)
                    {
                        continue;
                    }
                    if (errno != LinuxTun.EAgain)
                    {
                        throw new VpnDeviceException($"Reading {Name} failed: {Marshal.GetPInvokeErrorMessage(errno)}.");
                    }
                    if (!block)
                    {
                        return -1;
                    }
                    poll.Fd = fd;
                    poll.Revents = 0;
                    if (LinuxTun.Poll(&poll, 1, (int)PollInterval.TotalMilliseconds) < 0 && Marshal.GetLastPInvokeError() is var pollErrno && pollErrno != LinuxTun.EIntr)
                    {
                        throw new VpnDeviceException($"poll on {Name} failed: {Marshal.GetPInvokeErrorMessage(pollErrno)}.");
                    }
                    continue;
                }
                if (n < header.Length)
                {
                    continue; // cannot happen with a configured header size; never hand out a headerless packet
                }
                return (int)n - header.Length;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default) =>
        Write(new ReadOnlySequence<byte>(packet), default);

    ValueTask IOffloadPacketDevice.WriteOffloadedAsync(ReadOnlySequence<byte> packet, PacketOffload offload, CancellationToken cancellationToken) =>
        Write(packet, offload);

    /// <summary>One write(2), or one writev(2) of the virtio-net header and the packet's buffers as they are (no copy).</summary>
    private unsafe ValueTask Write(ReadOnlySequence<byte> packet, PacketOffload offload)
    {
        int fd = Volatile.Read(ref _fd);
        if (fd < 0)
        {
            return ValueTask.CompletedTask;
        }
        nint n;
        if (!Offload && packet.IsSingleSegment)
        {
            using var pin = packet.First.Pin();
            n = LinuxTun.Write(fd, (byte*)pin.Pointer, (nuint)packet.Length);
        }
        else
        {
            Span<byte> header = stackalloc byte[PacketOffload.VirtioHeaderSize];
            Span<byte> prefix = stackalloc byte[PacketOffload.MaxHeadersLength];
            scoped ReadOnlySpan<byte> first = packet.FirstSpan;
            if (first.Length < Math.Min(packet.Length, PacketOffload.MaxHeadersLength))
            {
                packet.Slice(0, Math.Min(packet.Length, PacketOffload.MaxHeadersLength)).CopyTo(prefix);
                first = prefix;
            }
            offload.WriteVirtioHeader(first, header);
            int count = 0;
            foreach (var _ in packet)
            {
                count++;
            }
            if (count > MaxWriteVectors)
            {
                byte[] copy = packet.ToArray(); // a packet in more pieces than a stream's blocks make: not worth a vector array
                return Write(new ReadOnlySequence<byte>(copy), offload);
            }
            var pins = t_pins ??= new MemoryHandle[MaxWriteVectors];
            var vectors = stackalloc LinuxTun.IoVec[MaxWriteVectors + 1];
            fixed (byte* headerPointer = header)
            {
                int used = 0;
                try
                {
                    if (Offload)
                    {
                        vectors[used++] = new LinuxTun.IoVec { Base = headerPointer, Length = PacketOffload.VirtioHeaderSize };
                    }
                    int piece = 0;
                    foreach (var memory in packet)
                    {
                        pins[piece] = memory.Pin();
                        vectors[used++] = new LinuxTun.IoVec { Base = (byte*)pins[piece++].Pointer, Length = (nuint)memory.Length };
                    }
                    n = LinuxTun.WriteV(fd, vectors, used);
                }
                finally
                {
                    for (int i = 0; i < count; i++)
                    {
                        pins[i].Dispose();
                        pins[i] = default;
                    }
                }
            }
        }
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // EINVAL / EIO for a packet the kernel rejects: drop it, as a real link would.
            if (errno is not (LinuxTun.EInval or LinuxTun.EIo or LinuxTun.EAgain))
            {
                return ValueTask.FromException(new VpnDeviceException($"Writing {Name} failed: {Marshal.GetPInvokeErrorMessage(errno)}."));
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Closes the device; the kernel removes the interface with its addresses and routes.</summary>
    public ValueTask DisposeAsync()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            LinuxTun.Close(fd);
        }
        return ValueTask.CompletedTask;
    }
}
