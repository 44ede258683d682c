using System.Diagnostics;

namespace P2PNet.Resources.Internal;

/// <summary>
/// One budget: a counter and a limit per <see cref="ResourceKind"/>. Reservations are exact (compare-and-swap), so what a
/// scope holds never exceeds its limit, even under concurrent reservations.
/// </summary>
internal sealed class ResourceScope
{
    private const int KindCount = (int)ResourceKind.Memory + 1;

    private readonly long[] _used = new long[KindCount];
    private readonly long[] _limits;

    /// <summary>Creates a scope with <paramref name="limits"/>, indexed by <see cref="ResourceKind"/>.</summary>
    public ResourceScope(ResourceScopeKind kind, long[] limits)
    {
        Debug.Assert(limits.Length == KindCount, "one limit per resource kind");
        Kind = kind;
        _limits = limits;
    }

    public ResourceScopeKind Kind { get; }

    /// <summary>Connections (and handshakes) holding this scope; guarded by the manager's lock. The scope is dropped at 0.</summary>
    public int References { get; set; }

    public long Limit(ResourceKind kind) => _limits[(int)kind];

    public long Used(ResourceKind kind) => Interlocked.Read(ref _used[(int)kind]);

    /// <summary>Takes <paramref name="amount"/> of <paramref name="kind"/> if it fits the limit.</summary>
    public bool TryReserve(ResourceKind kind, long amount)
    {
        Debug.Assert(amount >= 0, "reservations are positive");
        ref long used = ref _used[(int)kind];
        long limit = _limits[(int)kind];
        long current = Interlocked.Read(ref used);
        while (true)
        {
            if (amount > limit - current)
            {
                return false;
            }

            long seen = Interlocked.CompareExchange(ref used, current + amount, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }
    }

    /// <summary>Takes <paramref name="amount"/> whatever the limit (an allow-listed peer's usage is still shown).</summary>
    public void Add(ResourceKind kind, long amount) => Interlocked.Add(ref _used[(int)kind], amount);

    /// <summary>Gives back what <see cref="TryReserve"/> or <see cref="Add"/> took.</summary>
    public void Release(ResourceKind kind, long amount)
    {
        long left = Interlocked.Add(ref _used[(int)kind], -amount);
        Debug.Assert(left >= 0, $"{Kind} scope released more {kind} than it held");
    }

    public ScopeUsage Usage => new(
        Used(ResourceKind.InboundConnections),
        Used(ResourceKind.OutboundConnections),
        Used(ResourceKind.InboundHandshakes),
        Used(ResourceKind.InboundStreams),
        Used(ResourceKind.OutboundStreams),
        Used(ResourceKind.Memory));

    /// <summary>Limits indexed by <see cref="ResourceKind"/>, from the arguments in declaration order.</summary>
    public static long[] Limits(long inboundConnections, long outboundConnections, long inboundHandshakes,
        long inboundStreams, long outboundStreams, long memory) =>
        [inboundConnections, outboundConnections, inboundHandshakes, inboundStreams, outboundStreams, memory];
}
