using System.Net;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using P2PNet.Vpn.Internal;

namespace P2PNet.Vpn.Tests;

public class AddressPoolTests
{
    private static readonly IPNetwork Network = IPNetwork.Parse("10.1.2.0/28"); // 14 host addresses: fills up quickly

    [Fact]
    public void Allocate_WithFreeRequestedAddress_ReturnsIt()
    {
        var pool = new AddressPool(Network);
        Assert.Equal(IPAddress.Parse("10.1.2.9"), pool.Allocate(IPAddress.Parse("10.1.2.9")));
        Assert.Equal(IPAddress.Parse("10.1.2.1"), pool.Allocate(null));
    }

    [Fact]
    public void Allocate_WithTakenOrUnusableRequest_ReturnsLowestFree()
    {
        var pool = new AddressPool(Network);
        pool.Allocate(IPAddress.Parse("10.1.2.1"));
        Assert.Equal(IPAddress.Parse("10.1.2.2"), pool.Allocate(IPAddress.Parse("10.1.2.1")));
        Assert.Equal(IPAddress.Parse("10.1.2.3"), pool.Allocate(IPAddress.Parse("10.1.2.0")));   // network address
        Assert.Equal(IPAddress.Parse("10.1.2.4"), pool.Allocate(IPAddress.Parse("10.1.2.15")));  // broadcast
        Assert.Equal(IPAddress.Parse("10.1.2.5"), pool.Allocate(IPAddress.Parse("192.168.0.1"))); // outside
    }

    [Fact]
    public void Allocate_WhenFull_ReturnsNull()
    {
        var pool = new AddressPool(Network);
        for (int i = 0; i < 14; i++)
        {
            Assert.NotNull(pool.Allocate(null));
        }
        Assert.Null(pool.Allocate(null));
    }

    [Property(MaxTest = 100)]
    public Property Allocation_UnderAnyAddRemoveSequence_NeverCollides()
    {
        // Each step: positive = add with that request offset (0 = none), negative = remove the n-th live member.
        return Prop.ForAll(Arb.From(Gen.ListOf(Gen.Choose(-20, 20))), (List<int> steps) =>
        {
            var pool = new AddressPool(Network);
            var live = new List<IPAddress>();
            foreach (int step in steps)
            {
                if (step < 0 && live.Count > 0)
                {
                    var victim = live[-step % live.Count];
                    live.Remove(victim);
                    if (!pool.Release(victim))
                    {
                        return false;
                    }
                    continue;
                }
                IPAddress? requested = step > 0 ? AddressPool.FromUInt32(AddressPool.ToUInt32(Network.BaseAddress) + (uint)step) : null;
                bool requestedFree = requested is not null && pool.IsUsable(requested) && !live.Contains(requested);
                var lowestFree = Enumerable.Range(1, 14).Select(i => AddressPool.FromUInt32(AddressPool.ToUInt32(Network.BaseAddress) + (uint)i))
                    .FirstOrDefault(a => !live.Contains(a));
                var got = pool.Allocate(requested);
                if (got is null)
                {
                    if (live.Count != 14)
                    {
                        return false;
                    }
                    continue;
                }
                if (live.Contains(got) || !pool.IsUsable(got) || !got.Equals(requestedFree ? requested : lowestFree))
                {
                    return false;
                }
                live.Add(got);
            }
            return live.Distinct().Count() == live.Count && pool.Count == live.Count;
        });
    }
}
