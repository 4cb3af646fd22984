#include "xds/unserved_sotw_set.h"

#include "envoy/service/runtime/v3/rtds.pb.h"

namespace propsy::xds {

std::shared_ptr<const TypeResources> UnservedSotwSet(std::string_view type_url,
                                                     const NameSet& names) {
  if (type_url != "type.googleapis.com/envoy.service.runtime.v3.Runtime" || names.empty()) {
    return TypeResources::Empty();
  }
  std::map<std::string, ResourcePtr> layers;
  for (const std::string& name : names) {
    envoy::service::runtime::v3::Runtime layer;
    layer.set_name(name);
    layer.mutable_layer();  // no keys
    layers.emplace(name, MakeResource(name, layer));
  }
  return TypeResources::Make(std::move(layers));
}

}  // namespace propsy::xds
