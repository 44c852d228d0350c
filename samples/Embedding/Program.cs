using Harbor.Gc.Samples.Embedding;
using Microsoft.Extensions.Hosting;

// A worker that embeds Harbor.Gc: the store, GC defaults and immutable-tag rules come from appsettings.json's "HarborGc"
// section (or environment variables such as HarborGc__Gc__Workers=4); every night at 03:00 UTC it plans a GC (a dry run,
// logged) and then executes that plan.
var builder = Host.CreateApplicationBuilder(args);
builder.AddNightlyGc();
await builder.Build().RunAsync().ConfigureAwait(false);
