// A dashboard as Grafana 11.6 defines it (@grafana/schema, the CUE-generated types Grafana
// itself builds from), made strict: every panel's `options` and `fieldConfig.defaults.custom`
// are typed by its plugin's published panelcfg, so an unknown panel type, a misspelled
// option or a value outside an enum fails `tsc`. tests/test_grafana_schema.py checks
// grafana/dashboards/*.json against `Dashboard` below.
import type * as common from "@grafana/schema/dist/esm/common/common.gen";
import type * as raw from "@grafana/schema/dist/esm/raw/dashboard/x/dashboard_types.gen";
import type * as annotationslist from "@grafana/schema/dist/esm/raw/composable/annotationslist/panelcfg/x/AnnotationsListPanelCfg_types.gen";
import type * as barchart from "@grafana/schema/dist/esm/raw/composable/barchart/panelcfg/x/BarChartPanelCfg_types.gen";
import type * as bargauge from "@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen";
import type * as candlestick from "@grafana/schema/dist/esm/raw/composable/candlestick/panelcfg/x/CandlestickPanelCfg_types.gen";
import type * as canvas from "@grafana/schema/dist/esm/raw/composable/canvas/panelcfg/x/CanvasPanelCfg_types.gen";
import type * as dashboardlist from "@grafana/schema/dist/esm/raw/composable/dashboardlist/panelcfg/x/DashboardListPanelCfg_types.gen";
import type * as datagrid from "@grafana/schema/dist/esm/raw/composable/datagrid/panelcfg/x/DatagridPanelCfg_types.gen";
import type * as debug from "@grafana/schema/dist/esm/raw/composable/debug/panelcfg/x/DebugPanelCfg_types.gen";
import type * as gauge from "@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen";
import type * as geomap from "@grafana/schema/dist/esm/raw/composable/geomap/panelcfg/x/GeomapPanelCfg_types.gen";
import type * as heatmap from "@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen";
import type * as histogram from "@grafana/schema/dist/esm/raw/composable/histogram/panelcfg/x/HistogramPanelCfg_types.gen";
import type * as logs from "@grafana/schema/dist/esm/raw/composable/logs/panelcfg/x/LogsPanelCfg_types.gen";
import type * as news from "@grafana/schema/dist/esm/raw/composable/news/panelcfg/x/NewsPanelCfg_types.gen";
import type * as nodegraph from "@grafana/schema/dist/esm/raw/composable/nodegraph/panelcfg/x/NodeGraphPanelCfg_types.gen";
import type * as piechart from "@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as statetimeline from "@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen";
import type * as statushistory from "@grafana/schema/dist/esm/raw/composable/statushistory/panelcfg/x/StatusHistoryPanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as text from "@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";
import type * as trend from "@grafana/schema/dist/esm/raw/composable/trend/panelcfg/x/TrendPanelCfg_types.gen";
import type * as xychart from "@grafana/schema/dist/esm/raw/composable/xychart/panelcfg/x/XYChartPanelCfg_types.gen";

// JSON carries an enum's value, not the TypeScript enum: map every string enum to the union
// of its values ("value" for MappingType.ValueToText), keeping every key and its optionality.
type Json<T> = T extends string
  ? string extends T ? string : `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// An override may set any field-config key, or `custom.<key>` of the panel's own options.
type OverrideProperty<C> = {
  id: Exclude<keyof raw.FieldConfig, "custom"> | `custom.${Extract<keyof C, string>}`;
  value?: unknown;
};

type FieldConfigSource<C> = {
  defaults: Json<Omit<raw.FieldConfig, "custom">> & ([C] extends [never] ? { custom?: never } : { custom?: Json<C> });
  overrides: Array<{ matcher: Json<raw.MatcherConfig>; properties: Array<OverrideProperty<C>> }>;
};

// The query model of Grafana's InfluxDB datasource (InfluxQuery in its plugin's types.ts;
// not part of @grafana/schema 11.6): raw InfluxQL only, as heatwatch writes it.
type InfluxQuery = Json<common.DataQuery> & {
  query: string;
  rawQuery: true;
  resultFormat: "time_series" | "table" | "logs";
  alias?: string;
};

// The query model of Grafana's built-in PostgreSQL datasource (SQLQuery in its plugin's
// types.ts; not part of @grafana/schema 11.6): raw SQL written in the code editor.
type SQLQuery = Json<common.DataQuery> & {
  rawSql: string;
  rawQuery: true;
  editorMode: "code";
  format: "time_series" | "table";
};

// A panel of plugin P: its options and custom field config as the plugin publishes them.
type PanelOf<P extends string, O, C = never> = Json<Omit<raw.Panel, "type" | "options" | "fieldConfig" | "targets">> & {
  type: P;
  options: Json<O>;
  fieldConfig: FieldConfigSource<C>;
  targets?: InfluxQuery[] | SQLQuery[];
};

// Every panel plugin with a published schema in Grafana 11.6, by its plugin id; a type not
// listed here is unknown to Grafana.
export interface Panels {
  "annolist": PanelOf<"annolist", annotationslist.Options>;
  "barchart": PanelOf<"barchart", barchart.Options, barchart.FieldConfig>;
  "bargauge": PanelOf<"bargauge", bargauge.Options>;
  "candlestick": PanelOf<"candlestick", candlestick.Options, candlestick.FieldConfig>;
  "canvas": PanelOf<"canvas", canvas.Options>;
  "dashlist": PanelOf<"dashlist", dashboardlist.Options>;
  "datagrid": PanelOf<"datagrid", datagrid.Options>;
  "debug": PanelOf<"debug", debug.Options>;
  "gauge": PanelOf<"gauge", gauge.Options>;
  "geomap": PanelOf<"geomap", geomap.Options>;
  "heatmap": PanelOf<"heatmap", heatmap.Options, heatmap.FieldConfig>;
  "histogram": PanelOf<"histogram", histogram.Options, histogram.FieldConfig>;
  "logs": PanelOf<"logs", logs.Options>;
  "news": PanelOf<"news", news.Options>;
  "nodeGraph": PanelOf<"nodeGraph", nodegraph.Options>;
  "piechart": PanelOf<"piechart", piechart.Options, piechart.FieldConfig>;
  "stat": PanelOf<"stat", stat.Options>;
  "state-timeline": PanelOf<"state-timeline", statetimeline.Options, statetimeline.FieldConfig>;
  "status-history": PanelOf<"status-history", statushistory.Options, statushistory.FieldConfig>;
  "table": PanelOf<"table", table.Options, table.FieldConfig>;
  "text": PanelOf<"text", text.Options>;
  "timeseries": PanelOf<"timeseries", timeseries.Options, timeseries.FieldConfig>;
  "trend": PanelOf<"trend", trend.Options, trend.FieldConfig>;
  "xychart": PanelOf<"xychart", xychart.Options, xychart.FieldConfig>;
}

export type Panel = Panels[keyof Panels];

// An annotation query of the InfluxDB datasource as its annotation editor saves it (the
// plugin's migrations.ts): InfluxQL in `target.query`, and which columns hold the region's
// end, the text and the tags.
type AnnotationQuery = Json<Omit<raw.AnnotationQuery, "target">> & {
  target: InfluxQuery & {
    queryType: "tags";
    fromAnnotations: true;
    timeEndColumn?: string;
    textColumn?: string;
    tagsColumn?: string;
    titleColumn?: string;
    name?: string;
  };
};

export type Dashboard = Json<Omit<raw.Dashboard, "panels" | "annotations" | "templating" | "id">> & {
  id: null;
  panels: Panel[];
  annotations: { list: AnnotationQuery[] };
  templating: { list: Array<Json<raw.VariableModel>> };
};
