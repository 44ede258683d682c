using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;

namespace P2PNet.Vpn.Tun;

/// <summary>
/// A Linux TUN device (<c>/dev/net/tun</c>, <c>IFF_TUN | IFF_NO_PI</c>: bare IP packets). The device exists while this
/// object is open and disappears, with its address and routes, when it is disposed. Address, MTU and the route to the
/// VPN network are set with iproute2's <c>ip</c>. Needs CAP_NET_ADMIN (<see cref="VpnPermissionException"/> otherwise).
/// </summary>
/// <remarks>Reads block in the kernel (polled, so cancellation is seen within <see cref="PollInterval"/>); the network
/// reads from one dedicated thread. Writes are one system call each and may come from several threads.</remarks>
public sealed class TunDevice : IPacketDevice
{
    /// <summary>How often a blocked read checks its cancellation token.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    private int _fd;

    private TunDevice(int fd, string name)
    {
        _fd = fd;
        Name = name;
    }

    /// <summary>The interface name the kernel gave the device.</summary>
    public string Name { get; }

    /// <summary>Creates a TUN device called <paramref name="name"/> (a <c>%d</c> in it takes the next free number).</summary>
    /// <exception cref="VpnPermissionException">The process lacks CAP_NET_ADMIN.</exception>
    /// <exception cref="VpnDeviceException">/dev/net/tun is missing or the kernel refused the device.</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    public static unsafe TunDevice Create(string name = "p2pnet%d")
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
        *(short*)(ifreq + LinuxTun.IfNameSize) = LinuxTun.IffTun | LinuxTun.IffNoPi;
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
        var span = new ReadOnlySpan<byte>(ifreq, LinuxTun.IfNameSize);
        int end = span.IndexOf((byte)0);
        return new TunDevice(fd, Encoding.ASCII.GetString(end < 0 ? span : span[..end]));
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
    public unsafe ValueTask<int> ReadPacketAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var poll = new LinuxTun.PollFd { Events = LinuxTun.PollIn };
        using var pin = buffer.Pin();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int fd = Volatile.Read(ref _fd);
            if (fd < 0)
            {
                return ValueTask.FromResult(0);
            }
            // Non-blocking: read first, and only when nothing is waiting block in poll (bounded, to see cancellation).
            nint n = LinuxTun.Read(fd, (byte*)pin.Pointer, (nuint)buffer.Length);
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
                poll.Fd = fd;
                poll.Revents = 0;
                if (LinuxTun.Poll(&poll, 1, (int)PollInterval.TotalMilliseconds) < 0 && Marshal.GetLastPInvokeError() is var pollErrno && pollErrno != LinuxTun.EIntr)
                {
                    throw new VpnDeviceException($"poll on {Name} failed: {Marshal.GetPInvokeErrorMessage(pollErrno)}.");
                }
                continue;
            }
            return ValueTask.FromResult((int)n);
        }
    }

    /// <inheritdoc />
    public unsafe ValueTask WritePacketAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken = default)
    {
        int fd = Volatile.Read(ref _fd);
        if (fd < 0)
        {
            return ValueTask.CompletedTask;
        }
        using var pin = packet.Pin();
        nint n = LinuxTun.Write(fd, (byte*)pin.Pointer, (nuint)packet.Length);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // EINVAL / EIO for a packet the kernel rejects: drop it, as a real link would.
            if (errno is not (22 or 5 or LinuxTun.EAgain))
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
