using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace P2PNet.Proxy.UdpBridge.Internal;

/// <summary>Rejects option values the bridge cannot honour, when the host starts.</summary>
internal sealed class UdpBridgeOptionsValidator : IValidateOptions<UdpBridgeOptions>
{
    public ValidateOptionsResult Validate(string? name, UdpBridgeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.MaxClients < 1)
        {
            failures.Add($"MaxClients must be at least 1 (was {options.MaxClients}).");
        }

        if (options.MaxClientsPerAddress < 1)
        {
            failures.Add($"MaxClientsPerAddress must be at least 1 (was {options.MaxClientsPerAddress}).");
        }

        if (options.MaxPendingHandshakes < 1 || options.MaxPendingHandshakesPerAddress < 1)
        {
            failures.Add("MaxPendingHandshakes and MaxPendingHandshakesPerAddress must be at least 1.");
        }

        if (options.HandshakeTimeout <= TimeSpan.Zero)
        {
            failures.Add("HandshakeTimeout must be positive.");
        }

        if (options.MaxDatagramsPerSecondPerAddress < 0)
        {
            failures.Add("MaxDatagramsPerSecondPerAddress must be 0 (no limit) or positive.");
        }

        if (options.MaxBytesPerSecondPerAddress < 0
            || (options.MaxBytesPerSecondPerAddress > 0 && options.MaxBytesPerSecondPerAddress < options.MaxDatagramSize))
        {
            failures.Add($"MaxBytesPerSecondPerAddress must be 0 (no limit) or at least MaxDatagramSize ({options.MaxDatagramSize}).");
        }

        if (options.MaxDatagramSize is < 1 or > UdpBridgeOptions.MaxUdpPayload)
        {
            failures.Add($"MaxDatagramSize must be between 1 and {UdpBridgeOptions.MaxUdpPayload} (was {options.MaxDatagramSize}).");
        }

        if (options.MaxDatagramsPerSecond < 0)
        {
            failures.Add("MaxDatagramsPerSecond must be 0 (no limit) or positive.");
        }

        if (options.MaxBytesPerSecond < 0 || (options.MaxBytesPerSecond > 0 && options.MaxBytesPerSecond < options.MaxDatagramSize))
        {
            failures.Add($"MaxBytesPerSecond must be 0 (no limit) or at least MaxDatagramSize ({options.MaxDatagramSize}), "
                + "or a largest datagram could never pass.");
        }

        if (options.IdleTimeout <= TimeSpan.Zero && options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            failures.Add("IdleTimeout must be positive or Timeout.InfiniteTimeSpan.");
        }

        if (options.CloseTimeout <= TimeSpan.Zero)
        {
            failures.Add("CloseTimeout must be positive.");
        }

        if (options.KeepAliveInterval < TimeSpan.Zero)
        {
            failures.Add("KeepAliveInterval must be zero (no pings) or positive.");
        }

        if (options.UdpBindAddress is null
            || options.UdpBindAddress.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            failures.Add("UdpBindAddress must be an IPv4 or IPv6 address.");
        }

        if (options.BearerToken is { Length: 0 })
        {
            failures.Add("BearerToken must be null (no token) or not empty.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
