using System.Net;

namespace P2PNet.Proxy.Tunnels;

/// <summary>A service a device exposes: its name, how it is published, and the local endpoint that serves it.</summary>
/// <param name="Name">The service name (a DNS label, see <see cref="TunnelNames.IsValidLabel"/>).</param>
/// <param name="Kind">How it is published.</param>
/// <param name="LocalEndPoint">Where the device connects (or sends datagrams) for each public connection.</param>
public sealed record TunnelServiceSpec(string Name, TunnelServiceKind Kind, EndPoint LocalEndPoint)
{
    /// <summary>Parses <c>NAME=HOST:PORT</c> (as <c>p2pnet tunnel expose --tcp ssh=127.0.0.1:22</c> takes it).</summary>
    /// <exception cref="FormatException">The text is not <c>NAME=HOST:PORT</c> with a valid name and port.</exception>
    public static TunnelServiceSpec Parse(TunnelServiceKind kind, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new FormatException($"'{text}' is not NAME=HOST:PORT.");
        }
        string name = text[..eq];
        if (!TunnelNames.IsValidLabel(name))
        {
            throw new FormatException($"'{name}' is not a valid service name: use 1-63 characters of a-z, 0-9 and '-'.");
        }
        return new TunnelServiceSpec(name, kind, ParseEndPoint(text[(eq + 1)..]));
    }

    /// <summary>Parses <c>HOST:PORT</c> (an IP address, <c>[v6]:port</c>, or a host name).</summary>
    /// <exception cref="FormatException">Not a host and a port of 1–65535.</exception>
    public static EndPoint ParseEndPoint(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (IPEndPoint.TryParse(text, out var ip) && text.Contains(':', StringComparison.Ordinal) && ip.Port > 0)
        {
            return ip;
        }
        int colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out int port) && port is > 0 and <= 65535
            && Uri.CheckHostName(text[..colon]) != UriHostNameType.Unknown)
        {
            return new DnsEndPoint(text[..colon], port);
        }
        throw new FormatException($"'{text}' is not HOST:PORT.");
    }
}
