using Harbor.Gc.Samples.Embedding;
using Microsoft.Extensions.Hosting;

// A worker that embeds Harbor.Gc: the store, GC defaults and immutable-tag rules come from appsettings.json's "HarborGc"
// section (or environment variables such as HarborGc__Gc__Workers=4); on start it logs a GC dry run, then every night at
// 03:00 UTC it plans a GC (a dry run, logged) and executes that plan. appsettings.json is read beside the program, whatever
// the working directory (`dotnet run --project samples/Embedding` from the repository's root finds it).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
if (builder.Configuration["HarborGc:Store:Kind"] is null)
{
    // no store configured (HarborGc:Store:Kind and Root, or Path for LiteDb): a fresh copy of the bundled registry:2 sample in
    // the temp folder, so that the sample shows a real run and writes nothing into the source tree
    builder.Configuration["HarborGc:Store:Kind"] = "Distribution";
    builder.Configuration["HarborGc:Store:Root"] = SampleRegistry.CopyToTemp(TimeProvider.System, Console.Out);
}

builder.AddNightlyGc();
await builder.Build().RunAsync().ConfigureAwait(false);
