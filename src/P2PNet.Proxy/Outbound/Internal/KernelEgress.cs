using System.Diagnostics;
using System.Net;

namespace P2PNet.Proxy.Outbound.Internal;

/// <summary>
/// The kernel egress of one VPN on a gateway node: IPv4 forwarding on, and an nftables table of its own that
/// masquerades the VPN network's packets leaving by any interface but its TUN (removed again on dispose). The VPN layer
/// (<c>VpnEgress</c>) has already decided which packets may reach the TUN.
/// </summary>
internal sealed class KernelEgress : IAsyncDisposable
{
    private readonly string _table;

    private KernelEgress(string table) => _table = table;

    public static async Task<KernelEgress> StartAsync(string vpnId, IPNetwork network, string tun, CancellationToken cancellationToken)
    {
        await File.WriteAllTextAsync("/proc/sys/net/ipv4/ip_forward", "1\n", cancellationToken).ConfigureAwait(false);
        string table = "p2pnet_gw_" + vpnId[..12];
        // One atomic nft script: the table, a NAT postrouting chain, the masquerade rule.
        string script = $$"""
            table ip {{table}} {
              chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                ip saddr {{network}} oifname != "{{tun}}" masquerade
              }
            }
            """;
        await RunNftAsync(["-f", "-"], script, cancellationToken).ConfigureAwait(false);
        return new KernelEgress(table);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunNftAsync(["delete", "table", "ip", _table], null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Already gone (the namespace went first): nothing left to remove.
        }
    }

    private static async Task RunNftAsync(string[] arguments, string? input, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("nft") { RedirectStandardInput = input is not null, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("nft did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("The kernel egress needs nftables (the nft command): install it, or use the rootless mode.", e);
        }
        using (process)
        {
            if (input is not null)
            {
                await process.StandardInput.WriteAsync(input).ConfigureAwait(false);
                process.StandardInput.Close();
            }
            string error = await process.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"nft {string.Join(' ', arguments)} failed: {error.Trim()}");
            }
        }
    }
}
